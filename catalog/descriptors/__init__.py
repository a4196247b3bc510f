"""Catalog as code: reading, validating, importing and exporting Backstage descriptors
(``apiVersion: backstage.io/v1alpha1``). ``reader`` turns bytes into YAML documents within
limits, ``schema`` checks each document against its kind's rules, ``plan`` maps entities onto
the catalog and says what would change, ``export`` writes the catalog back."""
