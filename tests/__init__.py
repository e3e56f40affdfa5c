"""The tests (see the README's Development section); a package, so that each folder's modules have
names of their own (``tests.http``, not the standard library's ``http``)."""
