from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

TYPE_CHOICES = [SelectChoice("child", "儿童"), SelectChoice("adult", "成人（家长）")]


class BorrowerForm(FlaskForm):
    """The minimum of product.md; school and grade only when the organisation turns them on."""

    name = StringField("姓名", validators=[DataRequired("请填写姓名。"), Length(max=64, message="姓名太长了。")])
    point = SelectField("阅读点", choices=[], validate_choice=False)  # checked by the service: 403
    type = SelectField("类型", choices=TYPE_CHOICES, default="child")
    birth_year = StringField("出生年份（可不填）", validators=[Optional(), Length(max=4, message="请填写四位年份。")])
    guardian_name = StringField("监护人姓名", validators=[Length(max=64, message="监护人姓名太长了。")])
    guardian_phone = StringField("监护人电话", validators=[Length(max=20, message="电话太长了。")])
    school = StringField("学校（可不填）", validators=[Length(max=100)])
    grade = StringField("年级（可不填）", validators=[Length(max=32)])


class RegisterForm(BorrowerForm):
    consent = BooleanField(
        "监护人已同意登记孩子的以上信息（仅用于借阅）",
        validators=[DataRequired("需要监护人同意才能登记：请先征得同意再勾选。")],
    )
    card = HiddenField()
    confirm_duplicate = HiddenField(default="")


class BatchForm(FlaskForm):
    count = StringField("张数（1-500）", default="20", validators=[DataRequired("请填写张数。")])
    label = StringField("批次名称（可不填）", validators=[Length(max=32)])
