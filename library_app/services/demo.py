"""Demo data for trying the app (``flask --app library_app seed-demo``).

Four reading points in Zhuhai, about 300 children's titles (well-known picture books and
series volumes), about 900 copies, about 250 children with cards, four story mothers and a
librarian, and the current year's loans up to now: story sessions on each point's own
weekdays, children returning at a later session (some late, some not yet), a few renewals and
undone mis-scans, more in the summer holiday and fewer at Spring Festival; and last year's
monthly paper tallies, so the year page has a "same date last year" to compare with.

Rows are written with the models directly (this does not go through the catalog, borrower or
circulation services) and is deterministic for a given ``seed`` and ``now``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from library_app.domain.codes import make_code, sequence_number
from library_app.domain.reports import local_day
from library_app.domain.settings import LibrarySettings
from library_app.domain.text import pinyin_keys
from library_app.models import (
    Borrower,
    Card,
    Copy,
    Loan,
    LoanRenewal,
    MonthlyTally,
    Point,
    Title,
    User,
)

from .activities_demo import seed_activities
from .errors import Conflict

DEMO_PASSWORD = "gushihui-demo"

POINTS = [
    # code, name, address, weekdays (Mon=0), size factor, story mother (username, name)
    ("P01", "三灶镇故事会点", "珠海市金湾区三灶镇中心村外来工子女活动室", (2, 5), 1.3, ("mama1", "陈丽娟")),
    ("P02", "平沙镇故事会点", "珠海市金湾区平沙镇平沙社区服务中心二楼", (5,), 0.8, ("mama2", "黄秀英")),
    ("P03", "南屏镇故事会点", "珠海市香洲区南屏镇北山社区图书角", (3, 6), 1.0, ("mama3", "刘晓燕")),
    ("P04", "前山街道故事会点", "珠海市香洲区前山街道翠微社区四楼活动室", (1, 5), 0.75, ("mama4", "张美玲")),
]
LIBRARIAN = ("librarian", "林老师")

# title, author, category, age band, copies weight (popular books get more copies)
KNOWN_TITLES: list[tuple[str, str, str, str, int]] = [
    ("猜猜我有多爱你", "山姆·麦克布雷尼", "绘本", "3-6", 5),
    ("好饿的毛毛虫", "艾瑞·卡尔", "绘本", "0-3", 5),
    ("大卫，不可以", "大卫·香农", "绘本", "3-6", 5),
    ("逃家小兔", "玛格丽特·怀兹·布朗", "绘本", "3-6", 4),
    ("小蓝和小黄", "李欧·李奥尼", "绘本", "3-6", 4),
    ("我爸爸", "安东尼·布朗", "绘本", "3-6", 4),
    ("我妈妈", "安东尼·布朗", "绘本", "3-6", 4),
    ("爷爷一定有办法", "菲比·吉尔曼", "绘本", "3-6", 4),
    ("母鸡萝丝去散步", "佩特·哈群斯", "绘本", "3-6", 3),
    ("晚安，月亮", "玛格丽特·怀兹·布朗", "绘本", "0-3", 3),
    ("彩虹色的花", "麦克·格雷涅茨", "绘本", "3-6", 3),
    ("鳄鱼怕怕牙医怕怕", "五味太郎", "绘本", "3-6", 3),
    ("小猪变形记", "阿兰·布雷", "绘本", "3-6", 3),
    ("我的情绪小怪兽", "安娜·耶纳斯", "绘本", "3-6", 4),
    ("菲菲生气了", "莫莉·卞", "绘本", "3-6", 3),
    ("野兽国", "莫里斯·桑达克", "绘本", "3-6", 3),
    ("石头汤", "琼·穆特", "绘本", "3-6", 3),
    ("花婆婆", "芭芭拉·库尼", "绘本", "6-9", 3),
    ("勇气", "伯纳德·韦伯", "绘本", "3-6", 2),
    ("小房子", "维吉尼亚·李·伯顿", "绘本", "3-6", 2),
    ("活了100万次的猫", "佐野洋子", "绘本", "6-9", 3),
    ("一园青菜成了精", "周翔", "绘本", "3-6", 3),
    ("团圆", "余丽琼", "绘本", "3-6", 4),
    ("小狐狸买手套", "新美南吉", "绘本", "3-6", 3),
    ("鼠小弟的小背心", "中江嘉男", "绘本", "0-3", 3),
    ("是谁嗯嗯在我的头上", "维尔纳·霍尔茨瓦特", "绘本", "3-6", 4),
    ("棕色的熊、棕色的熊，你在看什么？", "比尔·马丁", "绘本", "0-3", 3),
    ("月亮的味道", "麦克·格雷涅茨", "绘本", "3-6", 3),
    ("蚯蚓的日记", "朵琳·克罗宁", "绘本", "3-6", 3),
    ("驴小弟变石头", "威廉·史塔克", "绘本", "3-6", 2),
    ("你看起来好像很好吃", "宫西达也", "绘本", "3-6", 4),
    ("肚子里有个火车站", "安娜·鲁斯曼", "绘本", "3-6", 4),
    ("牙齿大街的新鲜事", "安娜·鲁斯曼", "绘本", "3-6", 3),
    ("小黑鱼", "李欧·李奥尼", "绘本", "3-6", 2),
    ("田鼠阿佛", "李欧·李奥尼", "绘本", "3-6", 2),
    ("好饿的小蛇", "宫西达也", "绘本", "0-3", 3),
    ("蹦！", "松冈达英", "绘本", "0-3", 2),
    ("拔萝卜", "阿·托尔斯泰", "绘本", "0-3", 2),
    ("100层的房子", "岩井俊雄", "绘本", "3-6", 3),
    ("我的幸运一天", "庆子·凯萨兹", "绘本", "3-6", 2),
    ("妈妈买绿豆", "曾阳晴", "绘本", "3-6", 2),
    ("安的种子", "王早早", "绘本", "3-6", 2),
    ("青蛙和蟾蜍：好朋友", "艾诺·洛贝尔", "桥梁书", "6-9", 3),
    ("小猪唏哩呼噜", "孙幼军", "桥梁书", "6-9", 3),
    ("没头脑和不高兴", "任溶溶", "桥梁书", "6-9", 3),
    ("大头儿子和小头爸爸", "郑春华", "桥梁书", "6-9", 3),
    ("小巴掌童话", "张秋生", "桥梁书", "6-9", 2),
    ("一只想飞的猫", "陈伯吹", "桥梁书", "6-9", 2),
    ("小鲤鱼跳龙门", "金近", "桥梁书", "6-9", 2),
    ("夏洛的网", "E.B.怀特", "文学", "9-12", 3),
    ("草房子", "曹文轩", "文学", "9-12", 3),
    ("窗边的小豆豆", "黑柳彻子", "文学", "9-12", 3),
    ("小王子", "圣埃克苏佩里", "文学", "9-12", 3),
    ("青铜葵花", "曹文轩", "文学", "9-12", 2),
    ("城南旧事", "林海音", "文学", "9-12", 2),
    ("稻草人", "叶圣陶", "文学", "9-12", 2),
    ("宝葫芦的秘密", "张天翼", "文学", "9-12", 2),
    ("小英雄雨来", "管桦", "文学", "9-12", 2),
    ("皮皮鲁传", "郑渊洁", "文学", "9-12", 2),
    ("狼王梦", "沈石溪", "文学", "9-12", 2),
    ("绿山墙的安妮", "露西·莫德·蒙哥马利", "文学", "12+", 1),
    ("汤姆·索亚历险记", "马克·吐温", "文学", "12+", 1),
    ("爱的教育", "亚米契斯", "文学", "9-12", 2),
    ("昆虫记", "法布尔", "科普", "9-12", 2),
    ("DK儿童百科全书", "英国DK公司", "科普", "6-9", 2),
    ("父与子", "埃·奥·卜劳恩", "漫画", "6-9", 3),
    ("三毛流浪记", "张乐平", "漫画", "6-9", 2),
    ("上下五千年", "林汉达", "历史", "9-12", 2),
    ("新华字典", "中国社会科学院语言研究所", "工具书", "6-9", 2),
    ("小学生成语词典", "商务印书馆辞书研究中心", "工具书", "6-9", 1),
]

# Series with numbered volumes: (series, author, category, age band, volumes, subtitles)
SERIES: list[tuple[str, str, str, str, int, list[str]]] = [
    ("神奇校车", "乔安娜·柯尔", "科普", "6-9", 12,
     ["地球内部探秘", "水的故事", "在人体中游览", "探访太阳系", "在蜂巢里", "追寻恐龙",
      "气候大挑战", "海底探险", "电的故事", "植物的生长", "飓风的形成", "迷失在太空"]),
    ("米小圈上学记", "北猫", "桥梁书", "6-9", 16, []),
    ("十万个为什么（少儿版）", "编委会", "科普", "6-9", 12,
     ["动物", "植物", "人体", "天文", "地球", "海洋", "交通", "建筑", "电子", "化学", "物理", "气象"]),
    ("可怕的科学", "尼克·阿诺德", "科普", "9-12", 12,
     ["肮脏的身体", "要命的数学", "神秘的宇宙", "恐怖的实验", "疯狂的电", "声音的奥秘",
      "进化之谜", "杀人的植物", "无处不在的化学", "惊险南北极", "绝望的沙漠", "威猛的火山"]),
    ("14只老鼠", "岩村和朗", "绘本", "3-6", 12,
     ["大搬家", "吃早餐", "去野餐", "洗衣服", "过冬天", "种南瓜", "挖山药", "赏月", "捣年糕",
      "大扫除", "摘栗子", "玩泥巴"]),
    ("小熊宝宝绘本", "佐佐木洋子", "绘本", "0-3", 15,
     ["午安", "你好", "拉㞎㞎", "刷牙", "睡觉", "洗澡", "过生日", "收起来", "走路", "吃饭",
      "穿衣服", "打电话", "散步", "排好队", "好朋友"]),
    ("青蛙弗洛格的成长故事", "马克斯·维尔修思", "绘本", "3-6", 12,
     ["青蛙和陌生人", "快乐的一天", "我就是喜欢我", "青蛙和小鸭子", "好朋友", "冬天里的弗洛格",
      "青蛙与宝藏", "青蛙和新朋友", "大英雄", "青蛙生病了", "青蛙和野兔", "了不起的青蛙"]),
    ("不一样的卡梅拉", "克利斯提昂·约里波瓦", "绘本", "3-6", 14,
     ["我想去看海", "我想有颗星星", "我想有个弟弟", "我去找回太阳", "我能打败怪兽", "我爱小黑猫",
      "我要找到朱尔", "我要救出贝里奥", "我不要被吃掉", "我是守护天使", "我要拯救森林",
      "我好喜欢她", "我爱我的新家", "我想飞"]),
    ("噼里啪啦系列", "佐佐木洋子", "绘本", "0-3", 7,
     ["我要拉㞎㞎", "我去刷牙", "我喜欢游泳", "我来穿衣服", "我想吃饭", "我会洗澡", "我要睡觉"]),
    ("写给儿童的中国历史", "陈卫平", "历史", "9-12", 14, []),
    ("丁丁历险记", "埃尔热", "漫画", "9-12", 12,
     ["丁丁在刚果", "蓝莲花", "金钥匙的螃蟹", "独角兽号的秘密", "红海鲨鱼", "奔向月球",
      "月球探险", "七个水晶球", "太阳的囚徒", "黑岛", "丁丁在西藏", "绿宝石失窃案"]),
    ("大中华寻宝记", "孙家裕", "漫画", "9-12", 10,
     ["北京寻宝记", "上海寻宝记", "广东寻宝记", "四川寻宝记", "云南寻宝记", "西藏寻宝记",
      "江苏寻宝记", "浙江寻宝记", "湖南寻宝记", "福建寻宝记"]),
    ("小鼠波波", "露西·卡曾斯", "绘本", "0-3", 10,
     ["波波的生日", "波波去睡觉", "波波去游泳", "波波在农场", "波波的花园", "波波去上学",
      "波波做蛋糕", "波波过圣诞", "波波去海边", "波波的一天"]),
    ("中国传统节日绘本", "保冬妮", "绘本", "3-6", 8,
     ["春节", "元宵节", "清明节", "端午节", "七夕节", "中秋节", "重阳节", "腊八节"]),
    ("安徒生童话", "安徒生", "文学", "6-9", 8,
     ["丑小鸭", "海的女儿", "卖火柴的小女孩", "皇帝的新装", "拇指姑娘", "小锡兵", "野天鹅", "豌豆公主"]),
    ("格林童话", "格林兄弟", "文学", "6-9", 8,
     ["白雪公主", "小红帽", "灰姑娘", "青蛙王子", "不来梅的音乐家", "睡美人", "糖果屋", "渔夫和他的妻子"]),
    ("中国神话故事", "编委会", "文学", "6-9", 8,
     ["盘古开天地", "女娲补天", "后羿射日", "精卫填海", "大禹治水", "夸父逐日", "嫦娥奔月", "神农尝百草"]),
    ("小猪佩奇", "英国快乐瓢虫出版公司", "绘本", "3-6", 14, []),
    ("汪汪队立大功", "美国尼克儿童频道", "绘本", "3-6", 10, []),
    ("儿童艺术启蒙", "编委会", "艺术", "6-9", 6,
     ["梵高的向日葵", "齐白石画虾", "莫奈的睡莲", "毕加索的鸽子", "剪纸的故事", "京剧脸谱"]),
]

CN_NUMBERS = "一二三四五六七八九十"

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶"
            "程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛段雷龙黎史陶贺毛"
            "郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文")
GIVEN_CHILD = ("子涵 梓萱 浩然 宇轩 欣怡 一诺 梓轩 诗涵 俊熙 雨桐 思彤 铭泽 可馨 若曦 子墨 嘉怡 "
               "俊杰 佳琪 博文 晨曦 梦瑶 天佑 紫涵 皓轩 雨萱 子豪 梓涵 奕辰 语桐 锦程 欣妍 明轩 "
               "安琪 宇航 思雨 家乐 婉婷 志强 晓雯 嘉豪 静怡 泽宇 依诺 文博 芷若 睿 萱 轩 涵 浩 "
               "乐乐 贝贝 妞妞 小宝 天天 果果 豆豆 朵朵 小雨 小龙").split()
GIVEN_ADULT = ("建华 秀兰 丽华 志明 海燕 春梅 国强 桂英 小红 建军 玉兰 伟 芳 勇 敏 静 磊 娟 军 "
               "红霞 晓东 翠花 永强 美华 金凤 德明 海涛 丽萍").split()
SCHOOLS = ["三灶中心小学", "平沙第一小学", "南屏小学", "前山小学", "金湾实验学校", ""]


@dataclass
class DemoSummary:
    points: int = 0
    titles: int = 0
    copies: int = 0
    borrowers: int = 0
    loans: int = 0
    open_loans: int = 0
    overdue: int = 0
    tallies: int = 0
    users_created: list[str] = field(default_factory=list)
    users_skipped: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    first_day: date | None = None


class RealDataPresent(Conflict):
    code = "real_data_present"


def existing_data(session: Session) -> dict[str, int]:
    """Counts of the things that make a database 'real' (users and points alone do not)."""
    return {
        "书目": session.scalar(select(func.count(Title.id))) or 0,
        "图书": session.scalar(select(func.count(Copy.id))) or 0,
        "小读者": session.scalar(select(func.count(Borrower.id))) or 0,
        "借阅记录": session.scalar(select(func.count(Loan.id))) or 0,
    }


def _next_number(session: Session, column: Any) -> int:
    codes = session.scalars(select(column).order_by(func.length(column).desc(), column.desc()).limit(1)).all()
    if not codes:
        return 1
    try:
        return sequence_number(codes[0]) + 1
    except ValueError:  # pragma: no cover - foreign code shapes
        return (session.scalar(select(func.count()).select_from(column.table)) or 0) + 1


def _title_list() -> list[tuple[str, str, str, str, int]]:
    titles = list(KNOWN_TITLES)
    for series, author, category, band, volumes, subtitles in SERIES:
        for i in range(volumes):
            if subtitles:
                name = f"{series}：{subtitles[i]}"
            elif series == "米小圈上学记":
                name = f"{series}·{CN_NUMBERS[i // 4]}年级：第{i % 4 + 1}册"
            else:
                name = f"{series}（第{i + 1}册）"
            weight = 2 if i < 3 else 1
            titles.append((name, author, category, band, weight))
    return titles


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC) + timedelta(minutes=minutes)


def _season(day: date) -> float:
    """Attendance by month: Spring Festival (Feb) low, summer holiday (Jul-Aug) high."""
    return {1: 0.85, 2: 0.45, 3: 0.95, 4: 1.0, 5: 1.0, 6: 0.9, 7: 1.3, 8: 1.25, 9: 0.95,
            10: 0.8, 11: 1.0, 12: 0.9}[day.month]


def seed_demo(
    session: Session, now: datetime, settings: LibrarySettings, *, force: bool = False,
    seed: int = 2019, password_hash: str | None = None,
) -> DemoSummary:
    """Fill the database with demo data. Refuses (RealDataPresent) when titles, copies,
    borrowers or loans exist, unless ``force``; then the demo data is added alongside."""
    found = existing_data(session)
    if any(found.values()) and not force:
        listed = "、".join(f"{k} {v}" for k, v in found.items() if v)
        raise RealDataPresent(
            f"数据库里已经有数据（{listed}），为免混入演示数据，没有写入任何内容。"
            "如确实要在现有数据旁加入演示数据，请加 --force。")
    rng = random.Random(seed)
    tz = ZoneInfo(settings.timezone)
    summary = DemoSummary()
    today = now.astimezone(tz).date()
    first_day = date(today.year, 1, 1)
    if (today - first_day).days < 60:  # early in a year: show the last eleven months instead
        first_day = date(today.year - 1 if today.month <= 11 else today.year, (today.month % 12) + 1, 1)
    summary.first_day = first_day
    setup_at = _local(first_day - timedelta(days=10), 10 * 60, tz)

    # Points and people
    points: list[Point] = []
    for code, name, address, _days, _size, _mother in POINTS:
        point = session.scalar(select(Point).where(Point.code == code))
        if point is None:
            point = Point(code=code, name=name, address=address, active=True)
            session.add(point)
            summary.points += 1
        points.append(point)
    session.flush()

    if password_hash is None:
        from .users import hash_password

        password_hash = hash_password(DEMO_PASSWORD)
    mothers: list[User | None] = []
    for (code, *_rest, (username, display)), point in zip(POINTS, points, strict=True):
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display, password_hash=password_hash,
                        role="story_mother", active=True, created_at=setup_at)
            user.points = [point]
            session.add(user)
            summary.users_created.append(f"{username}（故事妈妈 {display}，{code}）")
            mothers.append(user)
        else:
            summary.users_skipped.append(username)
            mothers.append(user if user.role == "story_mother" else None)
    librarian = session.scalar(select(User).where(User.username == LIBRARIAN[0]))
    if librarian is None:
        librarian = User(username=LIBRARIAN[0], display_name=LIBRARIAN[1], password_hash=password_hash,
                         role="librarian", active=True, created_at=setup_at)
        session.add(librarian)
        summary.users_created.append(f"{LIBRARIAN[0]}（图书管理员 {LIBRARIAN[1]}）")
    else:
        summary.users_skipped.append(LIBRARIAN[0])
    session.flush()

    # Catalogue: titles, then copies spread over the points
    titles: list[Title] = []
    weights: list[int] = []
    for name, author, category, band, weight in _title_list():
        full, initials = pinyin_keys(name)
        titles.append(Title(title=name, author=author, category=category, age_band=band,
                            search_pinyin=full, search_initials=initials,
                            publisher=rng.choice(["接力出版社", "明天出版社", "南海出版公司", "少年儿童出版社",
                                                  "二十一世纪出版社", "人民文学出版社", "新星出版社"]),
                            notes="演示数据", created_at=setup_at, updated_at=setup_at))
        weights.append(weight)
    session.add_all(titles)
    session.flush()
    summary.titles = len(titles)

    copy_no = _next_number(session, Copy.code)
    copy_rows: list[dict[str, Any]] = []
    for title, weight in zip(titles, weights, strict=True):
        count = weight + 1 + (1 if rng.random() < 0.6 else 0)
        for _ in range(count):
            home = points[len(copy_rows) % len(points)] if weight > 1 else rng.choice(points)
            copy_rows.append({"code": make_code("copy", copy_no), "title_id": title.id,
                              "home_point_id": home.id, "current_point_id": home.id,
                              "status": "available",
                              "source": "donation" if rng.random() < 0.6 else "purchase",
                              "notes": "", "created_at": setup_at})
            copy_no += 1
    session.execute(insert(Copy), copy_rows)
    copies = session.execute(select(Copy.id, Copy.title_id, Copy.home_point_id).where(
        Copy.code.in_([r["code"] for r in copy_rows]))).all()
    summary.copies = len(copies)
    shelf: dict[int, list[int]] = {p.id: [] for p in points}       # available copy ids per point
    title_of: dict[int, int] = {}
    for cid, tid, pid in copies:
        shelf[pid].append(cid)
        title_of[cid] = tid

    # Children, each with a home point, a join date, how often they come, and a card
    children: list[dict[str, Any]] = []
    card_no = _next_number(session, Card.code)
    total_size = sum(p[4] for p in POINTS)
    for i, (point_spec, point) in enumerate(zip(POINTS, points, strict=True)):
        n = round(250 * point_spec[4] / total_size) if i < len(points) - 1 else 250 - len(children)
        for _ in range(n):
            surname = rng.choice(SURNAMES)
            name = surname + rng.choice(GIVEN_CHILD)
            early = rng.random() < 0.55
            span = max((today - first_day).days - 7, 1)
            joined = first_day + timedelta(days=rng.randrange(0, 21) if early else rng.randrange(0, span))
            mother = mothers[i]
            children.append({
                "point": point, "mother": mother, "joined": joined, "name": name,
                "surname": surname, "activity": rng.uniform(0.35, 0.95),
                "stops": (first_day + timedelta(days=rng.randrange(60, span + 60)))
                if rng.random() < 0.12 else None,
                "adult": rng.random() < 0.03,
            })
    borrowers: list[Borrower] = []
    for child in children:
        full, initials = pinyin_keys(child["name"])
        joined_at = _local(child["joined"], 15 * 60 + rng.randrange(0, 120), tz)
        b = Borrower(
            type="adult" if child["adult"] else "child", name=child["name"], search_pinyin=full,
            search_initials=initials,
            birth_year=None if child["adult"] else rng.randint(today.year - 12, today.year - 4),
            school=rng.choice(SCHOOLS) if settings.show_school_fields else "",
            guardian_name=child["surname"] + rng.choice(GIVEN_ADULT),
            guardian_phone="1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
            home_point_id=child["point"].id, consent_at=joined_at,
            consent_by_id=child["mother"].id if child["mother"] is not None else None,
            status="active", created_at=joined_at,
            created_by_id=child["mother"].id if child["mother"] is not None else None,
        )
        borrowers.append(b)
    session.add_all(borrowers)
    session.flush()
    card_rows = []
    for child, b in zip(children, borrowers, strict=True):
        child["id"] = b.id
        child["card_code"] = make_code("card", card_no)
        card_rows.append({"code": child["card_code"], "borrower_id": b.id, "status": "active",
                          "batch": "demo", "created_at": b.created_at, "bound_at": b.created_at})
        card_no += 1
    session.execute(insert(Card), card_rows)
    card_ids = dict(session.execute(select(Card.code, Card.id).where(
        Card.code.in_([r["code"] for r in card_rows]))).all())
    summary.borrowers = len(borrowers)

    # Circulation: each point's story sessions from the first day up to now
    loans: list[dict[str, Any]] = []
    renewed: list[tuple[dict[str, Any], datetime, datetime, int | None]] = []  # loan, when, due before, by
    open_by_child: dict[int, list[dict[str, Any]]] = {c["id"]: [] for c in children}
    by_point: dict[int, list[dict[str, Any]]] = {p.id: [] for p in points}
    for child in children:
        by_point[child["point"].id].append(child)
    day = first_day
    while day <= today:
        for spec, point, mother in zip(POINTS, points, mothers, strict=True):
            weekdays, size = spec[3], spec[4]
            if day.weekday() not in weekdays:
                continue
            weekend = day.weekday() >= 5
            begin = (14 * 60 + 30) if weekend else (16 * 60 + 30)
            if _local(day, begin, tz) > now:
                continue
            if rng.random() < 0.04:  # a session cancelled (rain, holiday)
                continue
            attendance = _season(day) * (0.55 + 0.25 * size) / (1.35 if len(weekdays) > 1 else 1.0)
            for child in by_point[point.id]:
                if child["joined"] > day or (child["stops"] is not None and day >= child["stops"]):
                    continue
                if rng.random() > child["activity"] * attendance:
                    continue
                at = _local(day, begin + rng.randrange(0, 150), tz)
                if at > now:
                    continue
                handler = mother if (mother is not None and rng.random() < 0.9) else librarian
                # Return what they bring back (now and then a book is forgotten at home)
                keep = []
                for loan in open_by_child[child["id"]]:
                    if rng.random() < 0.88:
                        loan["returned_at"] = at
                        loan["return_point_id"] = point.id
                        loan["returned_by_id"] = handler.id if handler is not None else None
                        loan["return_kind"] = "normal"
                        shelf[point.id].append(loan["copy_id"])
                    else:
                        keep.append(loan)
                        if loan["renewals"] == 0 and rng.random() < 0.3 and loan["due_at"] > at:
                            renewed.append((loan, at, loan["due_at"], handler.id if handler else None))
                            loan["renewals"] = 1
                            loan["due_at"] = loan["due_at"] + timedelta(days=14)
                open_by_child[child["id"]] = keep
                # Borrow one to three books, up to three open loans
                wanted = min(rng.choice((1, 1, 2, 2, 2, 3)), 3 - len(keep))
                for k in range(max(wanted, 0)):
                    if not shelf[point.id]:
                        break
                    copy_id = shelf[point.id].pop(rng.randrange(len(shelf[point.id])))
                    lent_at = at + timedelta(seconds=20 * k + rng.randrange(0, 15))
                    loan = {
                        "copy_id": copy_id, "title_id": title_of[copy_id], "borrower_id": child["id"],
                        "card_id": card_ids[child["card_code"]], "point_id": point.id,
                        "lent_by_id": handler.id if handler is not None else None,
                        "lent_at": lent_at, "lent_day": local_day(lent_at, tz),
                        "due_at": lent_at + timedelta(days=settings.loan_days),
                        "renewals": 0, "returned_at": None, "return_point_id": None,
                        "returned_by_id": None, "return_kind": "", "undone_at": None,
                        "source": "scan", "outcome": "",
                    }
                    if rng.random() < 0.006:  # a mis-scan, undone on the spot
                        undo_at = lent_at + timedelta(minutes=1)
                        loan.update(undone_at=undo_at, returned_at=undo_at, return_kind="undo",
                                    return_point_id=point.id, returned_by_id=loan["lent_by_id"])
                        shelf[point.id].append(copy_id)
                    else:
                        open_by_child[child["id"]].append(loan)
                    loans.append(loan)
        day += timedelta(days=1)

    if loans:
        session.execute(insert(Loan), loans)
    if renewed:  # each renewal with the due date it replaced (the reports' "overdue at the end")
        ids = {(c, at): i for i, c, at in session.execute(
            select(Loan.id, Loan.copy_id, Loan.lent_at).where(Loan.renewals > 0))}
        session.execute(insert(LoanRenewal), [
            {"loan_id": ids[(loan["copy_id"], loan["lent_at"])], "renewed_at": when,
             "due_before": before, "due_after": loan["due_at"], "renewed_by_id": by}
            for loan, when, before, by in renewed])
    open_copy_ids = [loan["copy_id"] for loan in loans if loan["returned_at"] is None]
    if open_copy_ids:
        from sqlalchemy import update

        for chunk in range(0, len(open_copy_ids), 500):
            session.execute(update(Copy).where(Copy.id.in_(open_copy_ids[chunk:chunk + 500]))
                            .values(status="on_loan"))
    summary.loans = sum(1 for loan in loans if loan["undone_at"] is None)
    summary.open_loans = len(open_copy_ids)
    summary.overdue = sum(1 for loan in loans if loan["returned_at"] is None and loan["due_at"] < now)

    # Last year's paper tallies (the org counted on paper before), for "same date last year"
    last_year = first_day.year - 1
    existing = set(session.execute(select(MonthlyTally.point_id, MonthlyTally.month)).all())
    tally_rows = []
    for spec, point in zip(POINTS, points, strict=True):
        for month in range(1, 13):
            key = f"{last_year:04d}-{month:02d}"
            if (point.id, key) in existing:
                continue
            base = 268 * spec[4] * _season(date(last_year, month, 1))
            tally_rows.append({"point_id": point.id, "month": key,
                               "loans": int(base * rng.uniform(0.9, 1.1)),
                               "entered_by_id": librarian.id, "entered_at": setup_at})
    if tally_rows:
        session.execute(insert(MonthlyTally), tally_rows)
    summary.tallies = len(tally_rows)
    session.flush()
    seed_activities(session, now, settings, seed=seed)  # a year of reading activities and volunteers
    return summary
