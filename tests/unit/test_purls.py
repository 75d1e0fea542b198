"""Purl canonicalisation: the awkward real ones, and properties for any purl."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packageurl import PackageURL

from feedguard.imports import parse
from feedguard.purls import OSS_INDEX_TYPES, InvalidPurl, canonical


@pytest.mark.parametrize(
    ("given_purl", "expected"),
    [
        ("pkg:npm/lodash@4.17.20", "pkg:npm/lodash@4.17.20"),
        ("pkg:NPM/lodash@4.17.20?arch=x64#lib/index.js", "pkg:npm/lodash@4.17.20"),
        ("pkg:npm/%40angular/core@12.0.0", "pkg:npm/%40angular/core@12.0.0"),
        ("pkg:npm/@angular/core@12.0.0", "pkg:npm/%40angular/core@12.0.0"),
        ("pkg:npm/%40Angular/Core@12.0.0", "pkg:npm/%40angular/core@12.0.0"),
        ("pkg:pypi/Django_REST_framework@3.14.0", "pkg:pypi/django-rest-framework@3.14.0"),
        ("pkg:pypi/zope.interface@5.4.0", "pkg:pypi/zope.interface@5.4.0"),
        (
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        ),
        ("pkg:golang/github.com/cloudflare/cfrpki@v1.1.0", "pkg:golang/github.com/cloudflare/cfrpki@v1.1.0"),
        ("pkg:golang/golang.org/x/text@v0.3.7#cases", "pkg:golang/golang.org/x/text@v0.3.7"),
        ("pkg:composer/GuzzleHttp/Guzzle@7.4.4", "pkg:composer/guzzlehttp/guzzle@7.4.4"),
        ("pkg:nuget/Newtonsoft.Json@12.0.1", "pkg:nuget/Newtonsoft.Json@12.0.1"),
        ("  pkg:cargo/smallvec@1.6.0 ", "pkg:cargo/smallvec@1.6.0"),
    ],
)
def test_awkward_real_purls(given_purl: str, expected: str) -> None:
    assert canonical(given_purl) == expected


@pytest.mark.parametrize(
    ("given_purl", "reason"),
    [
        ("pkg:npm/lodash", "version"),
        ("pkg:deb/debian/curl@7.50.3", "does not know"),
        ("pkg:github/package-url/purl-spec@1.0", "does not know"),
        ("npm/lodash@4.17.20", "Package URL"),
        ("lodash", "Package URL"),
        ("", "Package URL"),
        (42, "string"),
        ("pkg:npm/" + "a" * 3000 + "@1", "at most"),
    ],
)
def test_refused_purls_say_why(given_purl: object, reason: str) -> None:
    with pytest.raises(InvalidPurl, match=reason):
        canonical(given_purl)


names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="/@?#"), min_size=1)


def _purl(kind: str, namespace: str | None, name: str, version: str | None) -> str | None:
    """A purl string, or None where packageurl-python itself cannot write one (a blank name)."""
    try:
        return str(PackageURL(kind, namespace, name, version).to_string())
    except (TypeError, ValueError):
        return None


purls = st.builds(
    _purl,
    st.sampled_from(sorted(OSS_INDEX_TYPES)),
    st.one_of(st.none(), names),
    names,
    st.one_of(st.none(), names),
).filter(lambda purl: purl is not None)


@given(purls)
def test_canonical_is_idempotent_and_never_accepts_what_oss_index_refuses(purl: str) -> None:
    try:
        first = canonical(purl)
    except InvalidPurl:
        return
    assert canonical(first) == first
    parsed = PackageURL.from_string(first)
    assert parsed.version
    assert parsed.type in OSS_INDEX_TYPES
    assert not parsed.qualifiers
    assert parsed.subpath is None


@given(st.text())
def test_any_text_is_canonical_or_refused_with_a_message(text: str) -> None:
    try:
        canonical(text)
    except InvalidPurl as error:
        message = str(error)
    else:
        message = "accepted"
    assert message


def test_a_bom_is_walked_at_any_depth_and_components_without_purl_are_reported() -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "metadata": {"component": {"name": "my-app", "purl": "pkg:npm/my-app@1.0.0"}},
        "components": [
            {
                "name": "a",
                "purl": "pkg:npm/a@1",
                "components": [
                    {"name": "b", "purl": "pkg:npm/b@2", "components": [{"name": "c", "purl": "pkg:npm/c@3"}]}
                ],
            },
            {"name": "no-purl", "version": "9"},
        ],
    }
    parsed = parse(bom)
    assert parsed.purls == ["pkg:npm/a@1", "pkg:npm/b@2", "pkg:npm/c@3"]
    assert parsed.rejected == [{"purl": None, "message": "The component at components[1] (no-purl 9) has no purl."}]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"purls": "pkg:npm/a@1"},
        {"purl": ["pkg:npm/a@1"]},
        {"purls": [], "extra": 1},
        {"bomFormat": "CycloneDX", "components": {"name": "x"}},
        {"bomFormat": "CycloneDX", "components": ["x"]},
        {"purls": ["pkg:npm/a@1"] * 10_001},
    ],
)
def test_bodies_that_are_neither_a_purl_list_nor_a_bom_are_invalid(body: object) -> None:
    from feedguard.errors import InvalidInput

    with pytest.raises(InvalidInput):
        parse(body)


@pytest.mark.parametrize(
    ("purl", "size"),
    [
        (f"pkg:npm/{'a' * 1014}@1", 1024),  # exactly the limit
        (f"pkg:npm/{'a' * 1015}@1", 1025),
        ("pkg:npm/" + "\u00e9" * 200 + "@1", 1210),  # 200 characters, 6 bytes each once percent-encoded
    ],
)
def test_a_canonical_purl_over_1024_bytes_is_refused_as_too_long_for_a_key(purl: str, size: int) -> None:
    if size <= 1024:
        assert len(canonical(purl).encode()) == size
    else:
        with pytest.raises(InvalidPurl, match=f"1,024 bytes.*{size:,}"):
            canonical(purl)
