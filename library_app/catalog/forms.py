"""Catalog forms. Field rules live in domain.catalog; these forms carry CSRF and render fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from library_app.domain.catalog import AGE_BANDS, MAX_COPIES_AT_ONCE

AGE_CHOICES = [SelectChoice("", "（不限）")] + [SelectChoice(a, f"{a} 岁") for a in AGE_BANDS]
SOURCE_CHOICES = [SelectChoice("purchase", "采购"), SelectChoice("donation", "捐赠")]


class TitleForm(FlaskForm):
    isbn = StringField("ISBN（可扫描书背条码；没有可留空）", validators=[Length(max=32)])
    title = StringField("书名", validators=[DataRequired("请填写书名。"), Length(max=255)])
    author = StringField("作者", validators=[Length(max=255)])
    publisher = StringField("出版社", validators=[Length(max=255)])
    year = StringField("出版年", validators=[Length(max=16)])
    category = StringField("分类", validators=[Length(max=32)])
    age_band = SelectField("适读年龄", choices=AGE_CHOICES, validate_choice=False)
    notes = TextAreaField("备注", validators=[Length(max=2000)])
    # Filled from a record found by ISBN (套录), editable; the source and raw record kept with it
    pages = StringField("页数", validators=[Length(max=16)])
    price = StringField("定价", validators=[Length(max=32)])
    clc = StringField("中图法分类号", validators=[Length(max=32)])
    summary = TextAreaField("内容简介", validators=[Length(max=4000)])
    record_source = HiddenField()
    raw_record = HiddenField()


class AddCopiesForm(FlaskForm):
    point = SelectField("阅读点", choices=[], validate_choice=False)
    count = IntegerField(
        "册数", default=1,
        validators=[NumberRange(1, MAX_COPIES_AT_ONCE, f"册数应在 1 到 {MAX_COPIES_AT_ONCE} 之间。")],
    )
    source = SelectField("来源", choices=SOURCE_CHOICES, validate_choice=False)


class MoveForm(FlaskForm):
    point = SelectField("调到阅读点", choices=[], validate_choice=False)


class TransferForm(FlaskForm):
    to_point = SelectField("调入阅读点", choices=[], validate_choice=False)
    codes = TextAreaField("要调拨的书（每行一个编码，可用扫码枪连续扫描）")
    notes = StringField("备注", validators=[Length(max=500)])


class ImportForm(FlaskForm):
    file = FileField("文件（CSV、Excel 或 MARC）")
    point = SelectField("MARC 记录的馆藏放在", choices=[], validate_choice=False)
    copies = IntegerField("MARC 每条记录建几册", default=0,
                          validators=[Optional(), NumberRange(0, MAX_COPIES_AT_ONCE)])
