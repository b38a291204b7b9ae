from library_app.domain.textfiles import decode_csv_bytes

ROW = "书名,作者\n猜猜我有多爱你,山姆·麦克布雷尼\n"


def test_utf8_bom_and_gbk_read_the_same():
    assert decode_csv_bytes(ROW.encode("utf-8")) == ROW
    assert decode_csv_bytes(b"\xef\xbb\xbf" + ROW.encode("utf-8")) == ROW
    assert decode_csv_bytes(ROW.encode("gbk")) == ROW


def test_undecodable_bytes_give_none_not_an_exception():
    assert decode_csv_bytes(b"\x81\x20\xff\xfe") is None
