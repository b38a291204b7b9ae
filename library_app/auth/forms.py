from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请填写用户名。"))])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请填写密码。"))])


class SetupForm(FlaskForm):
    username = StringField("管理员用户名", validators=[DataRequired("请填写用户名。"), Length(max=64)])
    display_name = StringField("显示名称", validators=[Length(max=64)])
    password = PasswordField(
        "密码（至少 8 位，不要用常见密码）",
        validators=[DataRequired("请填写密码。"), Length(min=8, message="密码至少需要 8 个字符。")],
    )
    confirm = PasswordField("再次输入密码", validators=[EqualTo("password", "两次输入的密码不一致。")])
    # Proposed from the address she used to reach this page; QR codes then open in WeChat 扫一扫.
    use_public_url = BooleanField("二维码使用这个网址（微信“扫一扫”能直接打开书和借阅证的页面）")
    public_base_url = StringField("公开网址", validators=[Optional(), Length(max=200)])


class ChangePasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请填写当前密码。")])
    password = PasswordField("新密码（至少 8 位，不要用常见密码）", validators=[DataRequired("请填写新密码。")])
    confirm = PasswordField("再次输入新密码", validators=[EqualTo("password", "两次输入的密码不一致。")])
