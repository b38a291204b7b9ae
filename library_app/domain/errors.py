"""Errors named after the rule broken. Each carries a stable code and a Chinese message."""

from __future__ import annotations


class RuleBroken(Exception):
    """Base of every domain refusal: ``code`` for clients, ``message`` for people."""

    code = "rule_broken"
    message = "操作未完成。"
    status = 422

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or self.message
        self.details = details
        super().__init__(self.message)


class InvalidCode(RuleBroken):
    code = "invalid_code"
    message = "无法识别这个编码，请重新扫描或手动输入标签下方的编码。"


class BadCheckDigit(InvalidCode):
    code = "bad_check_digit"
    message = "编码校验位不对，可能输错了一位，请核对标签下方的编码后重新输入。"


class WrongCodeKind(InvalidCode):
    code = "wrong_code_kind"
    message = "这不是所需类型的编码。"


class InvalidIsbn(RuleBroken):
    code = "invalid_isbn"
    message = "ISBN 无效：请核对后重新输入（校验位不符或位数不对），没有 ISBN 的书可以留空。"
