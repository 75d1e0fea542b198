"""What the fake OSS Index knows: a handful of well-known vulnerable packages.

Written for feedguard in the shape of Sonatype OSS Index / Guide component
reports: optional fields are absent rather than null (`cve` on sonatype ids,
`cwe`, `description`), and CVSS vectors come in v2, 3.0, 3.1 and 4.0.
"""

from __future__ import annotations

import hashlib
from typing import Any

GUIDE = "https://guide.sonatype.com"


def _vulnerability(
    vulnerability_id: str,
    title: str,
    score: float,
    vector: str,
    *,
    description: str | None = None,
    cwe: str | None = None,
    cve: str | None = None,
    display_name: str | None = None,
    references: tuple[str, ...] = (),
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": vulnerability_id,
        "displayName": display_name or vulnerability_id,
        "title": title,
    }
    if description is not None:
        entry["description"] = description
    entry["cvssScore"] = score
    entry["cvssVector"] = vector
    if cwe:
        entry["cwe"] = cwe
    if cve:
        entry["cve"] = cve
    entry["reference"] = f"{GUIDE}/vulnerability/{vulnerability_id}"
    entry["externalReferences"] = list(references)
    return entry


def _nvd(cve: str) -> str:
    return f"https://nvd.nist.gov/vuln/detail/{cve}"


LOG4SHELL = _vulnerability(
    "CVE-2021-44228",
    "[CVE-2021-44228] CWE-502: Deserialization of Untrusted Data",
    10.0,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
    description="JNDI lookups in log messages let an attacker who controls a logged string load and run remote code.",
    cwe="CWE-502",
    cve="CVE-2021-44228",
    references=(_nvd("CVE-2021-44228"), "https://logging.apache.org/log4j/2.x/security.html"),
)

LOG4J_45046 = _vulnerability(
    "CVE-2021-45046",
    "[CVE-2021-45046] CWE-917: Expression Language Injection",
    9.0,
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H",
    description="The fix for CVE-2021-44228 was incomplete in some non-default configurations.",
    cwe="CWE-917",
    cve="CVE-2021-45046",
    references=(_nvd("CVE-2021-45046"),),
)

LOG4J_45105 = _vulnerability(
    "CVE-2021-45105",
    "[CVE-2021-45105] CWE-674: Uncontrolled Recursion",
    5.9,
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H",
    description="Self-referential lookups in the thread context map cause a denial of service.",
    cwe="CWE-674",
    cve="CVE-2021-45105",
    references=(_nvd("CVE-2021-45105"),),
)

LODASH_TEMPLATE = _vulnerability(
    "CVE-2021-23337",
    "[CVE-2021-23337] CWE-77: Improper Neutralization of Special Elements used in a Command",
    7.2,
    "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
    description="The template function lets an attacker who controls its options inject commands.",
    cwe="CWE-77",
    cve="CVE-2021-23337",
    references=(_nvd("CVE-2021-23337"), "https://github.com/advisories/GHSA-35jh-r3h4-6jhm"),
)

LODASH_REDOS = _vulnerability(
    "CVE-2020-28500",
    "[CVE-2020-28500] CWE-400: Uncontrolled Resource Consumption",
    5.3,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
    description="toNumber, trim and trimEnd are slow on crafted input (regular expression denial of service).",
    cwe="CWE-400",
    cve="CVE-2020-28500",
    references=(_nvd("CVE-2020-28500"),),
)

MINIMIST = _vulnerability(
    "CVE-2021-44906",
    "[CVE-2021-44906] CWE-1321: Prototype Pollution",
    9.8,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    description="setKey does not stop __proto__ keys, so parsed arguments can pollute Object.prototype.",
    cwe="CWE-1321",
    cve="CVE-2021-44906",
    references=(_nvd("CVE-2021-44906"),),
)

AXIOS_SSRF = _vulnerability(
    "CVE-2020-28168",
    "[CVE-2020-28168] CWE-918: Server-Side Request Forgery (SSRF)",
    5.9,
    "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
    description="Redirects are followed to hosts the proxy settings should have excluded.",
    cwe="CWE-918",
    cve="CVE-2020-28168",
    references=(_nvd("CVE-2020-28168"),),
)

AXIOS_SONATYPE = _vulnerability(
    "sonatype-2021-1694",
    "1 vulnerability found",
    7.5,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    description="",
    cwe="CWE-400",
)

PYYAML = _vulnerability(
    "CVE-2020-14343",
    "[CVE-2020-14343] CWE-20: Improper Input Validation",
    9.8,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    description="full_load and FullLoader construct arbitrary Python objects from untrusted YAML.",
    cwe="CWE-20",
    cve="CVE-2020-14343",
    references=(_nvd("CVE-2020-14343"),),
)

REQUESTS_REDIRECT = _vulnerability(
    "CVE-2018-18074",
    "[CVE-2018-18074] CWE-522: Insufficiently Protected Credentials",
    9.8,
    "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    description="An HTTPS to HTTP redirect to the same host keeps the Authorization header.",
    cwe="CWE-522",
    cve="CVE-2018-18074",
    references=(_nvd("CVE-2018-18074"),),
)

REQUESTS_PROXY = _vulnerability(
    "CVE-2023-32681",
    "[CVE-2023-32681] CWE-200: Information Exposure",
    6.1,
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N",
    description="Proxy-Authorization headers leak to the destination server on HTTPS redirects.",
    cwe="CWE-200",
    cve="CVE-2023-32681",
    references=(_nvd("CVE-2023-32681"),),
)

JACKSON_NESTING = _vulnerability(
    "CVE-2020-36518",
    "[CVE-2020-36518] CWE-787: Out-of-bounds Write",
    7.5,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    description="Deeply nested JSON arrays or objects exhaust the stack during deserialization.",
    cwe="CWE-787",
    cve="CVE-2020-36518",
    references=(_nvd("CVE-2020-36518"),),
)

JACKSON_GADGET = _vulnerability(
    "CVE-2019-12384",
    "[CVE-2019-12384] CWE-502: Deserialization of Untrusted Data",
    5.9,
    "AV:N/AC:H/Au:N/C:P/I:P/A:P",
    description="With default typing enabled, a logback gadget class allows remote reads and code execution.",
    cwe="CWE-502",
    cve="CVE-2019-12384",
    references=(_nvd("CVE-2019-12384"),),
)

X_TEXT = _vulnerability(
    "CVE-2022-32149",
    "[CVE-2022-32149] CWE-772: Missing Release of Resource after Effective Lifetime",
    7.5,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    description="ParseAcceptLanguage takes quadratic time on crafted Accept-Language headers.",
    cwe="CWE-772",
    cve="CVE-2022-32149",
    references=(_nvd("CVE-2022-32149"),),
)

SMALLVEC = _vulnerability(
    "CVE-2021-25900",
    "[CVE-2021-25900] CWE-787: Out-of-bounds Write",
    9.8,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    description="insert_many can write past the end of the buffer when an iterator lies about its length.",
    cwe="CWE-787",
    cve="CVE-2021-25900",
    references=(_nvd("CVE-2021-25900"),),
)

NEWTONSOFT = _vulnerability(
    "CVE-2024-21907",
    "[CVE-2024-21907] CWE-755: Improper Handling of Exceptional Conditions",
    7.5,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    description="Deeply nested input to JsonConvert causes a StackOverflow and denies service.",
    cwe="CWE-755",
    cve="CVE-2024-21907",
    references=(_nvd("CVE-2024-21907"),),
)

GUZZLE = _vulnerability(
    "CVE-2022-31090",
    "[CVE-2022-31090] CWE-200: Information Exposure",
    7.7,
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N",
    cwe="CWE-200",
    cve="CVE-2022-31090",
    references=(_nvd("CVE-2022-31090"),),
)

NOKOGIRI = _vulnerability(
    "CVE-2020-26247",
    "[CVE-2020-26247] CWE-611: Improper Restriction of XML External Entity Reference",
    4.3,
    "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
    description="Schema parsing resolves external entities by default, allowing XXE in trusted schemas.",
    cwe="CWE-611",
    cve="CVE-2020-26247",
    references=(_nvd("CVE-2020-26247"),),
)

# A sonatype id with a CVE: the finding is keyed by the CVE, the sonatype id
# its alias (docs/data-model.md, "Aliases"). Only tests/integration's alias
# tests use its package.
HANDLEBARS_SONATYPE = _vulnerability(
    "sonatype-2021-4930",
    "[CVE-2021-23369] Improper Control of Generation of Code ('Code Injection')",
    9.8,
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    description="Handlebars before 4.7.7 allows Remote Code Execution when compiling templates from untrusted "
    "sources with the strict option.",
    cwe="CWE-94",
    cve="CVE-2021-23369",
    display_name="CVE-2021-23369",
    references=(_nvd("CVE-2021-23369"),),
)

# purl (canonical) -> (component description or None when absent, vulnerabilities)
COMPONENTS: dict[str, tuple[str | None, list[dict[str, Any]]]] = {
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1": (
        "The Apache Log4j Implementation",
        [LOG4SHELL, LOG4J_45046, LOG4J_45105],
    ),
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.16.0": ("The Apache Log4j Implementation", [LOG4J_45105]),
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1": ("The Apache Log4j Implementation", []),
    "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.8": (
        "General data-binding functionality for Jackson",
        [JACKSON_NESTING, JACKSON_GADGET],
    ),
    "pkg:npm/lodash@4.17.20": ("", [LODASH_TEMPLATE, LODASH_REDOS]),
    "pkg:npm/lodash@4.17.21": ("", []),
    "pkg:npm/minimist@1.2.5": ("parse argument options", [MINIMIST]),
    "pkg:npm/axios@0.21.0": ("Promise based HTTP client", [AXIOS_SSRF, AXIOS_SONATYPE]),
    "pkg:pypi/pyyaml@5.3.1": ("YAML parser and emitter for Python", [PYYAML]),
    "pkg:pypi/requests@2.19.1": ("Python HTTP for Humans.", [REQUESTS_REDIRECT, REQUESTS_PROXY]),
    "pkg:pypi/requests@2.31.0": ("Python HTTP for Humans.", []),
    "pkg:golang/golang.org/x/text@v0.3.7": (None, [X_TEXT]),
    "pkg:cargo/smallvec@1.6.0": ("", [SMALLVEC]),
    "pkg:nuget/newtonsoft.json@12.0.1": ("Json.NET", [NEWTONSOFT]),
    "pkg:composer/guzzlehttp/guzzle@7.4.4": ("", [GUZZLE]),
    "pkg:gem/nokogiri@1.10.10": (None, [NOKOGIRI]),
    "pkg:npm/handlebars@4.7.6": (
        "Handlebars provides the power necessary to let you build semantic templates",
        [HANDLEBARS_SONATYPE],
    ),
}

# A few packages to try first (make dev's demo feed uses them).
DEMO_PURLS = (
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    "pkg:npm/lodash@4.17.20",
    "pkg:pypi/requests@2.19.1",
    "pkg:npm/axios@0.21.0",
    "pkg:pypi/requests@2.31.0",
)

# Made-up weaknesses for made-up packages: what a benchmark's packages report
# when the fake is told a share of them are vulnerable.
MADE_UP_WEAKNESSES = (
    ("CWE-79", "Improper Neutralization of Input During Web Page Generation", "AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
    ("CWE-400", "Uncontrolled Resource Consumption", "AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
    ("CWE-502", "Deserialization of Untrusted Data", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
    ("CWE-22", "Improper Limitation of a Pathname to a Restricted Directory", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
    (
        "CWE-1321",
        "Improperly Controlled Modification of Object Prototype Attributes",
        "AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:L",
    ),
)


def made_up_vulnerabilities(coordinates: str) -> list[dict[str, Any]]:
    """One to three vulnerabilities for a package the fake does not know, the
    same for every version of it (as a real one affects a range of versions)
    and every time: ids (`FAKE-…`) and scores are drawn from a hash of its
    name. Shaped and sized as real answers are: most have a CVE, a third
    only the vendor's id; scores spread over every severity band."""
    name = coordinates.rsplit("@", 1)[0]
    digest = hashlib.sha256(name.encode()).digest()
    made_up = []
    for k in range(1 + digest[0] % 3):
        draw = int.from_bytes(digest[1 + 4 * k : 5 + 4 * k], "big")
        vulnerability_id = f"FAKE-{digest[13:19].hex()}-{k + 1}"
        cwe, weakness, vector = MADE_UP_WEAKNESSES[draw % len(MADE_UP_WEAKNESSES)]
        score = round(1.0 + (draw // 7 % 91) / 10, 1)  # 1.0 to 10.0
        # From the name's digest, not the draw: a CVE names one vulnerability,
        # and findings sharing one would be merged as aliases of each other.
        number = int.from_bytes(digest[19:25], "big") * 3 + k
        cve = f"CVE-2026-{number}" if draw % 3 else None
        made_up.append(
            _vulnerability(
                vulnerability_id,
                f"[{cve or vulnerability_id}] {cwe}: {weakness}",
                score,
                f"CVSS:3.1/{vector}",
                description=f"{name.split('/')[-1]} before a later release has a weakness of this kind, "
                "which a remote attacker can reach through input the package reads.",
                cwe=cwe,
                cve=cve,
                display_name=cve,
                references=(_nvd(cve),) if cve else (),
            )
        )
    return made_up
