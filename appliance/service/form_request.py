"""Flask's request, able to tell a multipart form it could not read from one that lacks a field.

Werkzeug parses forms silently: a form it cannot read (a part's file name that is not UTF-8,
as an old client sends "café.mp4" in Latin-1; a broken part header) comes out empty, exactly
like a form sent without fields, and the route answered "field 'video' is required" to a user
who had sent it. Here the parse is not silent, and its failure is kept on the request instead
(`form_unreadable`), with the empty form Werkzeug would have given, so that every route still
sees the same form and only the message for a missing field differs (shared.missing_fields).
"""
from __future__ import annotations

from flask import Request


class FormRequest(Request):
    form_unreadable = False

    def make_form_data_parser(self):
        parser = super().make_form_data_parser()
        parser.silent = False  # its ValueError reaches _load_form_data below
        return parser

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except ValueError:
            self.form_unreadable = True
            self.__dict__.update(form=self.parameter_storage_class(), files=self.parameter_storage_class())
