"""Time zones in words: the name a person in the organisation uses, not the IANA key."""

from __future__ import annotations

# The zones the settings page offers, and a few more a Chinese NGO may meet.
ZONE_NAMES: dict[str, str] = {
    "Asia/Shanghai": "北京时间",
    "Asia/Chongqing": "北京时间",
    "Asia/Harbin": "北京时间",
    "PRC": "北京时间",
    "Asia/Urumqi": "新疆时间",
    "Asia/Hong_Kong": "香港时间",
    "Asia/Macau": "澳门时间",
    "Asia/Taipei": "台北时间",
    "Asia/Singapore": "新加坡时间",
    "Asia/Kuala_Lumpur": "吉隆坡时间",
    "Asia/Tokyo": "东京时间",
    "Asia/Seoul": "首尔时间",
    "Asia/Bangkok": "曼谷时间",
    "Europe/London": "伦敦时间",
    "America/New_York": "纽约时间",
    "UTC": "协调世界时（UTC）",
    "Etc/UTC": "协调世界时（UTC）",
}


def zone_name(key: str) -> str:
    """北京时间 for Asia/Shanghai; a zone not in the table keeps its key, said as a time zone."""
    key = (key or "").strip()
    return ZONE_NAMES.get(key) or f"{key} 时区时间"
