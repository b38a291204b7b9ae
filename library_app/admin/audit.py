"""The audit log viewer (admin only): who did what, when, to which thing."""

from __future__ import annotations

import json
from typing import Any

from flask import render_template, request

from library_app.access import roles
from library_app.db import get_session
from library_app.services import audit
from library_app.services.paging import Page
from library_app.web import query_int

from .views import bp

PER_PAGE = 50
# What each recorded action means, in the words of the people reading the log.
ACTION_NAMES = {
    "auth.login": "登录", "auth.logout": "退出登录", "auth.token": "领取接口令牌",
    "user.create": "添加用户", "user.update": "修改用户", "user.password": "修改自己的密码",
    "point.create": "添加阅读点", "point.update": "修改阅读点",
    "borrower.create": "登记小读者", "borrower.update": "修改小读者", "borrower.view": "查看小读者资料",
    "borrower.export": "导出小读者资料", "borrower.erase": "删除（匿名化）小读者",
    "borrower.status": "修改小读者状态",
    "card.issue": "发借阅证", "card.revoke": "作废借阅证", "card.bind": "绑定借阅证",
    "card.batch": "批量生成借阅证",
    "settings.update": "修改设置", "settings.logo": "更换机构标志", "settings.logo_removed": "删除机构标志",
}
TARGET_NAMES = {"user": "用户", "point": "阅读点", "borrower": "小读者", "card": "借阅证",
                "settings": "设置", "copy": "馆藏", "title": "书目", "loan": "借阅"}


def describe(details: dict[str, Any] | None) -> str:
    if not details:
        return ""
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)[:300]


@bp.get("/audit", endpoint="audit")
@roles("admin")
def audit_log():
    db = get_session()
    action = (request.args.get("action") or "").strip()[:48]
    username = (request.args.get("user") or "").strip()[:64]
    page = query_int("page")
    rows, total = audit.search(db, action=action, username=username, page=page, per_page=PER_PAGE)
    return render_template(
        "admin/audit.html", rows=rows, page=Page(rows, max(page, 1), PER_PAGE, total),
        action=action, username=username, actions=audit.actions(db), ACTION_NAMES=ACTION_NAMES,
        TARGET_NAMES=TARGET_NAMES, describe=describe,
    )
