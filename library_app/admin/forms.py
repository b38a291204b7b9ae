from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

ROLE_CHOICES = [
    SelectChoice("story_mother", "故事妈妈"), SelectChoice("point_lead", "阅读点负责人（只管自己的阅读点）"),
    SelectChoice("librarian", "图书管理员"),
    SelectChoice("viewer", "查看者（仅统计）"), SelectChoice("admin", "管理员"),
]


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请填写用户名。"), Length(max=64)])
    display_name = StringField("显示名称", validators=[Length(max=64)])
    role = SelectField("角色", choices=ROLE_CHOICES)
    points = MultiCheckbox("负责的阅读点", choices=[])
    active = BooleanField("启用", default=True)
    password = PasswordField("密码（至少 8 位，不要用常见密码；编辑时留空表示不修改）", validators=[Optional()])
