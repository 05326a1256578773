"""DRF's JSON parser, refusing absurdly nested bodies with a 400 instead of a 500.

Why: `json.loads` recurses once per nesting level and raises RecursionError past
Python's limit (~1,000 levels). DRF's parser only turns ValueError into a parse error,
so a 50,000-deep `[[[[…` body became a bare 500. Here it is a 400 like any other
malformed body; NaN and Infinity stay refused, as in DRF's strict mode.
"""

import codecs
import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.load(codecs.getreader(encoding)(stream), parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError included
            raise ParseError(f"JSON parse error - {error}") from None
