"""Shared builders for the tests (tiny models, images, framework runs); no tests here."""
