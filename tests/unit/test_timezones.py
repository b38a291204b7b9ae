from library_app.domain.timezones import zone_name


def test_common_zones_have_their_chinese_names_and_others_keep_their_key():
    assert zone_name("Asia/Shanghai") == "北京时间"
    assert zone_name("Asia/Hong_Kong") == "香港时间"
    assert zone_name("UTC") == "协调世界时（UTC）"
    assert zone_name("Europe/Berlin") == "Europe/Berlin 时区时间"
