"""The /graphql endpoint: authentication (session with CSRF, or token), abuse limits
(document bytes and tokens before parsing; depth, cost, aliases, root mutations after),
bounded JSON (body, variables, JSONString arguments), and errors that always carry a code."""

from __future__ import annotations

import functools
import itertools
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import method_decorator
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from graphene.types.resolver import dict_or_attr_resolver
from graphene.validation import depth_limit_validator
from graphene_django.views import GraphQLView
from graphql import (
    ExecutionContext,
    GraphQLError,
    Undefined,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    specified_rules,
)
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    StringValueNode,
)
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core import jsonlimits
from core.errors import DomainError, InvalidInput, NotFound

# Fields whose resolution runs a graph query: they cost more than a column.
GRAPH_FIELD_COST = {
    "dependencies": 10,
    "blastRadius": 50,
    "pathTo": 20,
    "drift": 20,
    "graph": 200,
    "teamDependencies": 10,
    "unknownEndpoints": 10,
    "cycles": 20,
    "history": 20,
}
MAX_ROOT_MUTATIONS = 5


def type_extensions(name: str) -> tuple[type, ...]:
    """Mixins that contribute fields (with their resolvers) to the GraphQL type ``name`` from
    an app above the one that defines it: ``settings.GRAPHQL_TYPE_EXTENSIONS`` maps a type to
    dotted paths. So Service can carry graph fields while catalog never imports graph; the
    wiring lives in config, like every other plugin list. Used as
    ``class ServiceType(*type_extensions("Service"), DjangoObjectType)``."""
    return tuple(import_string(path) for path in settings.GRAPHQL_TYPE_EXTENSIONS.get(name, ()))


def get_or_not_found(queryset, label: str, **lookup):
    """The one object a mutation names, or the domain's NotFound (``No team 'x'.``)."""
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise NotFound(f"No {label} {next(iter(lookup.values()))!r}.")
    return obj


def domain_errors(fn):
    """Resolver/mutation decorator: a DomainError becomes a GraphQL error with its code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            raise GraphQLError(exc.detail, extensions=exc.as_dict()) from exc

    return wrapper


# What a list of objects without pages (``Resource.dependents``, ``Team.services``) is assumed
# to hold when costing the graph fields below it: as many as the largest page.
LIST_SIZE = 100


def _cost(selection_set, fragments, multiplier: int, seen: frozenset, parent, schema, graph_multiplier=None) -> int:
    """One per field times the pages (first/last) above it; a graph field its GRAPH_FIELD_COST
    times the pages and, as well, LIST_SIZE for each list of objects without pages above it
    (whose items each run it). ``parent`` is the GraphQL type the selections are made on."""
    graph_multiplier = multiplier if graph_multiplier is None else graph_multiplier
    total = 0
    for node in selection_set.selections if selection_set else ():
        if isinstance(node, FieldNode):
            args = {a.name.value: a.value for a in node.arguments or ()}
            size = None
            for name in ("first", "last"):
                value = args.get(name)
                if value is None:
                    continue
                try:
                    size = int(value.value)  # a literal
                except (AttributeError, TypeError, ValueError):
                    size = 100  # a variable: assume the largest page it may ask for
                size = max(1, min(size, 100))
            weight = GRAPH_FIELD_COST.get(node.name.value)
            total += weight * graph_multiplier if weight else multiplier
            if node.selection_set:
                field = getattr(parent, "fields", {}).get(node.name.value)
                field_type = field.type if field is not None else None
                # a connection's edges are its page, already counted by first/last
                in_page = getattr(parent, "name", "").endswith("Connection")
                plain_list = bool(field_type) and size is None and not in_page
                plain_list = plain_list and is_list_type(get_nullable_type(field_type))
                total += _cost(
                    node.selection_set,
                    fragments,
                    multiplier * (size or 1),
                    seen,
                    get_named_type(field_type) if field_type else None,
                    schema,
                    graph_multiplier * (size or (LIST_SIZE if plain_list else 1)),
                )
        elif isinstance(node, InlineFragmentNode):
            on = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
            total += _cost(node.selection_set, fragments, multiplier, seen, on, schema, graph_multiplier)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in fragments and name not in seen:
                fragment = fragments[name]
                on = schema.get_type(fragment.type_condition.name.value)
                total += _cost(
                    fragment.selection_set, fragments, multiplier, seen | {name}, on, schema, graph_multiplier
                )
    return total


class CostLimitRule(ValidationRule):
    """Estimated cost: one per field, graph fields more, times the page sizes (first/last)
    of the connections above it. Over GRAPHQL_MAX_COST the query is refused unrun."""

    def enter_document(self, node, *_args):
        fragments = {d.name.value: d for d in node.definitions if d.kind == "fragment_definition"}
        for definition in node.definitions:
            if isinstance(definition, OperationDefinitionNode):
                schema = self.context.schema
                root = schema.get_root_type(definition.operation)
                cost = _cost(definition.selection_set, fragments, 1, frozenset(), root, schema)
                if cost > settings.GRAPHQL_MAX_COST:
                    self.report_error(
                        GraphQLError(
                            f"Query cost {cost} exceeds the limit of {settings.GRAPHQL_MAX_COST}; ask for smaller pages "
                            "or fewer graph fields.",
                            extensions={"code": "query_too_costly", "cost": cost},
                        )
                    )
                if (
                    definition.operation.value == "mutation"
                    and len(definition.selection_set.selections) > MAX_ROOT_MUTATIONS
                ):
                    self.report_error(
                        GraphQLError(
                            f"At most {MAX_ROOT_MUTATIONS} mutations per request.",
                            extensions={"code": "too_many_mutations"},
                        )
                    )
        aliases = _count_aliases(node)
        if aliases > settings.GRAPHQL_MAX_ALIASES:
            self.report_error(
                GraphQLError(
                    f"{aliases} aliases; at most {settings.GRAPHQL_MAX_ALIASES} are allowed.",
                    extensions={"code": "too_many_aliases"},
                )
            )


def _count_aliases(node) -> int:
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, FieldNode) and current.alias is not None:
            count += 1
        for key in getattr(current, "keys", ()):
            child = getattr(current, key, None)
            if isinstance(child, (list, tuple)):
                stack.extend(c for c in child if hasattr(c, "kind"))
            elif hasattr(child, "kind"):
                stack.append(child)
    return count


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status=status)


class QueryTooLarge(DomainError):
    code = "query_too_large"
    status = 413


class QueryTooManyTokens(InvalidInput):
    code = "query_too_many_tokens"


# GraphQL's lexical tokens (comments included, as graphql-core's max_tokens counts them), for
# counting only: the regex engine does in about a millisecond what graphql-core's pure-Python
# lexer takes 50+ ms for at the cap. Malformed text is the parser's to report.
_TOKEN = re.compile(
    r"#[^\n\r]*"
    r'|"""[^"\\]*+(?:(?:\\"""|\\|"(?!""))[^"\\]*+)*+"""'
    r'|"[^"\\\n\r]*+(?:\\.[^"\\\n\r]*+)*+"'
    r"|\.\.\."
    r"|[!$&():=@\[\]{}|]"
    r"|-?[0-9][0-9.eE+-]*"
    r"|[_A-Za-z][_0-9A-Za-z]*"
)


def document_check(query) -> None:
    """Refuse a document too big to be worth parsing, at a cost bounded by the limits
    themselves and before graphql-core sees it: its UTF-8 size against GRAPHQL_MAX_BYTES
    (413 query_too_large), then a token count that stops at GRAPHQL_MAX_TOKENS + 1
    (400 query_too_many_tokens)."""
    if not isinstance(query, str):
        return
    max_bytes, max_tokens = settings.GRAPHQL_MAX_BYTES, settings.GRAPHQL_MAX_TOKENS
    if len(query) > max_bytes or len(query.encode("utf-8", "surrogatepass")) > max_bytes:
        raise QueryTooLarge(f"The query document is larger than {max_bytes} bytes.", max_bytes=max_bytes)
    if sum(1 for _ in itertools.islice(_TOKEN.finditer(query), max_tokens + 1)) > max_tokens:
        raise QueryTooManyTokens(f"The query document has more than {max_tokens} tokens.", max_tokens=max_tokens)


def _json_too_deep_error(exc: jsonlimits.JsonTooDeep) -> GraphQLError:
    return GraphQLError(exc.detail, extensions=exc.as_dict())


def _json_string_literal(node, _variables=None):
    if isinstance(node, StringValueNode):
        try:
            return jsonlimits.loads(node.value)
        except jsonlimits.JsonTooDeep as exc:
            raise _json_too_deep_error(exc) from None
        except ValueError as exc:
            raise ValueError(f"Badly formed JSONString: {exc}") from None
    return Undefined


def _json_string_value(value):
    try:
        return jsonlimits.loads(value)
    except jsonlimits.JsonTooDeep as exc:
        raise _json_too_deep_error(exc) from None


def bound_json_scalars(schema) -> None:
    """Every JSONString argument or variable is parsed within JSON_MAX_DEPTH. graphene keeps
    one scalar per name in the schema, so setting it here covers every field using it."""
    scalar = schema.type_map.get("JSONString")
    if scalar is not None:
        scalar.parse_value = _json_string_value
        scalar.parse_literal = _json_string_literal


class LeafObjectExecutionContext(ExecutionContext):
    """graphql-core's executor, with a shorter path for an object whose selected fields are all
    scalars read by graphene's default resolver (a dict key or an attribute, no arguments): the
    object's result is built in one loop, each value serialized by its scalar as graphql-core
    would. graphql-core spends about 60 µs of bookkeeping per field (resolve info, argument
    values, awaitable checks, completion); a page of 100 services with their 2-hop dependencies
    is about 10,000 such fields, 85 % of the request. Anything else (an object field, a resolver
    of its own, arguments, middleware, ``__typename``) goes the ordinary way, and so does any
    object whose fast result would not be exactly the ordinary one (a null for a non-null field,
    a value its scalar refuses): it is executed again the ordinary way, which reports the error
    as usual (default resolvers only read, so running them twice is safe)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._leaf_plans: dict = {}

    def execute_fields(self, parent_type, source_value, path, fields):
        plan = self._leaf_plan(parent_type, fields)
        if plan is not None:
            results = self._leaf_results(plan, source_value)
            if results is not None:
                return results
        return super().execute_fields(parent_type, source_value, path, fields)

    def complete_list_value(self, return_type, field_nodes, info, path, result):
        """A list of such objects (a service's dependencies) is written in one loop too."""
        item_type = get_nullable_type(return_type.of_type)
        if isinstance(result, (list, tuple)) and is_object_type(item_type) and item_type.is_type_of is None:
            plan = self._leaf_plan(item_type, self.collect_subfields(item_type, field_nodes))
            if plan is not None:
                completed = []
                for item in result:
                    done = None if item is None else self._leaf_results(plan, item)
                    if done is None:
                        break
                    completed.append(done)
                else:
                    return completed
        return super().complete_list_value(return_type, field_nodes, info, path, result)

    @staticmethod
    def _leaf_results(plan, source_value) -> dict | None:
        """The object's result, or None where the ordinary path must answer."""
        results = {}
        is_dict = isinstance(source_value, dict)
        try:
            for key, attname, default, leaf, non_null in plan:
                value = source_value.get(attname, default) if is_dict else getattr(source_value, attname, default)
                if value is not None:
                    value = leaf.serialize(value)
                    if value is None or value is Undefined:
                        return None
                elif non_null:
                    return None
                results[key] = value
        except Exception:  # noqa: BLE001 - the ordinary path reports it, located, as an error of the field
            return None
        return results

    def _leaf_plan(self, parent_type, fields):
        # graphql-core memoizes each selection's ``fields``, so every item of a list shares one
        # plan; the dict is kept with its plan so its id cannot be reused within the request.
        key = (parent_type, id(fields))
        if key not in self._leaf_plans:
            self._leaf_plans[key] = (fields, self._make_leaf_plan(parent_type, fields))
        return self._leaf_plans[key][1]

    def _make_leaf_plan(self, parent_type, fields):
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None
        plan = []
        for key, nodes in fields.items():
            node = nodes[0]
            field = parent_type.fields.get(node.name.value)
            resolve = getattr(field, "resolve", None)
            if (
                field is None
                or node.arguments
                or field.args
                or not isinstance(resolve, functools.partial)
                or resolve.func is not dict_or_attr_resolver
                or resolve.keywords
                or len(resolve.args) != 2
            ):
                return None
            non_null = is_non_null_type(field.type)
            leaf = get_nullable_type(field.type)
            if not is_leaf_type(leaf):
                return None
            plan.append((key, resolve.args[0], resolve.args[1], leaf, non_null))
        return plan


@method_decorator(csrf_exempt, name="dispatch")  # CSRF is enforced below for session-authenticated requests
@method_decorator(ensure_csrf_cookie, name="dispatch")
class SwitchboardGraphQLView(GraphQLView):
    graphiql_template = "graphql/graphiql.html"
    execution_context_class = LeafObjectExecutionContext

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # graphene-django hands these to graphql-core in place of its defaults: keep them all.
        self.validation_rules = (
            *specified_rules,
            depth_limit_validator(max_depth=settings.GRAPHQL_MAX_DEPTH),
            CostLimitRule,
        )
        bound_json_scalars(self.schema.graphql_schema)

    def dispatch(self, request, *args, **kwargs):
        token_user = None
        if request.META.get("HTTP_AUTHORIZATION", "").startswith("Token "):
            try:
                authenticated = TokenAuthentication().authenticate(request)
            except AuthenticationFailed as exc:
                return _error(401, "authentication_failed", str(exc.detail))
            token_user = authenticated[0] if authenticated else None
        if token_user is not None:
            request.user = token_user
        elif not request.user.is_authenticated:
            return _error(401, "not_authenticated", "Sign in, or send 'Authorization: Token <token>'.")
        elif request.method == "POST":
            failure = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
            if failure is not None:
                return _error(403, "csrf_failed", "CSRF check failed: send the X-CSRFToken header.")
        if request.method == "POST" and request.content_type == "application/json":
            try:
                body = jsonlimits.loads(request.body or b"{}", storable=True)
            except RequestDataTooBig:
                return _error(
                    413, "body_too_large", f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
                )
            except InvalidInput as exc:  # too deep, or text no database stores
                return _error(exc.status, exc.code, exc.detail)
            except ValueError:
                return _error(400, "invalid_json", "The body is not valid JSON.")
            if isinstance(body, list):
                return _error(400, "batch_not_supported", "Send one operation per request.")
            request._sb_graphql_body = body  # parse_body hands this to graphene-django: parsed once
        try:
            return super().dispatch(request, *args, **kwargs)
        except DomainError as exc:  # a limit refused the request before anything ran
            return _error(exc.status, exc.code, exc.detail)
        except GraphQLError as exc:  # raised by validation (e.g. a too-deep JSONString literal)
            code = (exc.extensions or {}).get("code", "invalid")
            return _error(400, code, exc.message)
        except RequestDataTooBig:
            return _error(
                413, "body_too_large", f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            )
        except Exception as exc:  # graphene-django lets some malformed documents raise: answer, don't 500
            if isinstance(exc, HttpResponse):
                raise
            return _error(400, "invalid", f"The query could not be executed: {type(exc).__name__}.")

    def parse_body(self, request):
        body = getattr(request, "_sb_graphql_body", None)
        return body if isinstance(body, dict) else super().parse_body(request)

    @staticmethod
    def get_graphql_params(request, data):
        variables = request.GET.get("variables") or data.get("variables")
        if isinstance(variables, str) and variables:
            try:
                jsonlimits.loads(variables, storable=True)  # graphene-django parses it again, within the bound
            except ValueError:
                pass  # graphene-django answers "Variables are invalid JSON."
        return GraphQLView.get_graphql_params(request, data)

    def execute_graphql_request(self, request, data, query, variables, operation_name, show_graphiql=False):
        document_check(query)
        return super().execute_graphql_request(request, data, query, variables, operation_name, show_graphiql)
