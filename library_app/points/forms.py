from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length


class PointForm(FlaskForm):
    code = StringField("编号（如 P01）", validators=[DataRequired("请填写编号。"), Length(max=16)])
    name = StringField("名称", validators=[DataRequired("请填写名称。"), Length(max=100)])
    address = StringField("地址", validators=[Length(max=200)])
    active = BooleanField("启用", default=True)
