"""A third pipeline that lives only in the tests: proof that a use case plugs in without editing engine/."""
