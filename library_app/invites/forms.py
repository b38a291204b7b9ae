from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from library_app.admin.forms import MultiCheckbox


class InviteForm(FlaskForm):
    role = SelectField("邀请的角色", choices=[])
    points = MultiCheckbox("阅读点", choices=[])


class JoinForm(FlaskForm):
    username = StringField("登录名（以后登录时输入，例如 wangli）",
                           validators=[DataRequired("请填写登录名。"), Length(max=64, message="登录名最多 64 个字符。")],
                           render_kw={"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"})
    display_name = StringField("您的名字（大家看到的名字，例如 王丽）",
                               validators=[DataRequired("请填写您的名字。"), Length(max=64, message="名字最多 64 个字。")])
    password = PasswordField("密码（至少 8 位，不要用 12345678 这类常见密码）",
                             validators=[DataRequired("请设置密码。")])
    confirm = PasswordField("再输入一次密码", validators=[DataRequired("请再输入一次密码。"),
                                                    EqualTo("password", "两次输入的密码不一样，请重新输入。")])
