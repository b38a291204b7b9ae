import pytest

from library_app.domain.codes import make_code, parse_code, qr_content, sequence_number
from library_app.domain.errors import BadCheckDigit, InvalidCode, WrongCodeKind
from library_app.domain.text import mask_phone, pinyin_keys


def test_made_codes_carry_a_luhn_digit_and_round_trip():
    code = make_code("copy", 1)
    assert code == "B0000018"
    assert parse_code(code).code == code
    assert sequence_number(code) == 1
    assert make_code("card", 42).startswith("C000042")


@pytest.mark.parametrize("raw", [
    "B0000018", " b0000018 ", "B 000 0018", "http://lib.example.org/s/B0000018",
    "HTTPS://LIB.EXAMPLE.ORG/S/b0000018/", "https://x.cn/app/s/B0000018?from=wechat",
])
def test_any_form_of_a_code_is_read(raw):
    parsed = parse_code(raw)
    assert parsed.kind == "copy" and parsed.code == "B0000018"


def test_one_wrong_digit_is_refused_never_matched_to_another_item():
    with pytest.raises(BadCheckDigit) as err:
        parse_code("B0000019")
    assert "校验位" in err.value.message
    # every single-digit typo of a valid code is caught by Luhn
    good = make_code("card", 12345)
    for i in range(1, len(good)):
        for d in "0123456789":
            typo = good[:i] + d + good[i + 1:]
            if typo != good:
                with pytest.raises(BadCheckDigit):
                    parse_code(typo)


@pytest.mark.parametrize("raw", ["", "   ", "X123", "B", "hello", "9787532754687", "/s/"])
def test_garbage_is_refused_with_a_message(raw):
    with pytest.raises(InvalidCode) as err:
        parse_code(raw)
    assert err.value.message


def test_expected_kind_is_enforced():
    with pytest.raises(WrongCodeKind):
        parse_code(make_code("copy", 3), expect="card")
    assert parse_code(make_code("card", 3), expect="card").kind == "card"


def test_qr_content_is_url_when_base_set_else_bare_code():
    assert qr_content("B0000018", "") == "B0000018"
    assert qr_content("B0000018", "https://lib.example.org/") == "https://lib.example.org/s/B0000018"


def test_phone_mask_and_pinyin():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == ""
    assert pinyin_keys("猜猜我有多爱你") == ("caicaiwoyouduoaini", "ccwydan")
