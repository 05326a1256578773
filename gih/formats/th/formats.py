"""Thai dates: "7 ธ.ค. 2026, 14:05" (Gregorian year, as the hub's API and docs use)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j/n/Y"
SHORT_DATETIME_FORMAT = "j/n/Y H:i"
MONTH_DAY_FORMAT = "j M"
