"""Digest authentication against the published examples."""

from __future__ import annotations

import pytest

from dialer.digest import Challenge, DigestError, authorization


def test_rfc_2617_example_with_qop_auth() -> None:
    # RFC 2617 §3.5: Mufasa / Circle Of Life, response 6629fae49393a05397450978507c4ef1
    c = Challenge.parse('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                        'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = authorization(c, "GET", "/dir/index.html", "Mufasa", "Circle Of Life",
                           cnonce="0a4f113b", nc=1)
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "qop=auth" in header and "nc=00000001" in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_rfc_7616_sha256_example() -> None:
    # RFC 7616 §3.9.1, the SHA-256 example
    c = Challenge.parse('Digest realm="http-auth@example.org", qop="auth, auth-int", '
                        'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
                        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    header = authorization(c, "GET", "/dir/index.html", "Mufasa", "Circle of Life",
                           cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", nc=1)
    assert ('response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"'
            in header)


def test_without_qop_and_errors() -> None:
    c = Challenge.parse('Digest realm="r", nonce="n"')
    assert "qop" not in authorization(c, "INVITE", "sip:1@h", "u", "p", cnonce="x")
    assert Challenge.parse('Digest realm="r", nonce="n", stale=TRUE').stale
    with pytest.raises(DigestError, match="scheme"):
        Challenge.parse('Basic realm="r"')
    with pytest.raises(DigestError, match="realm and nonce"):
        Challenge.parse('Digest realm="r"')
    with pytest.raises(DigestError, match="algorithm"):
        Challenge.parse('Digest realm="r", nonce="n", algorithm=SHA-512-256')
    with pytest.raises(DigestError, match="only qop=auth"):
        Challenge.parse('Digest realm="r", nonce="n", qop="auth-int"')
