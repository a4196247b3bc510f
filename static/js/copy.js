// Copy-to-clipboard for show-once secrets.
document.addEventListener("click", function (ev) {
  var button = ev.target.closest("[data-target]");
  if (!button) return;
  var field = document.getElementById(button.dataset.target);
  field.select();
  (navigator.clipboard ? navigator.clipboard.writeText(field.value) : Promise.reject())
    .catch(function () { document.execCommand("copy"); })
    .finally(function () { button.textContent = "Copied"; });
});
