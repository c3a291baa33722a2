#include "cel/time_util.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

namespace migdra::cel {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

bool ReadDigits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

// ---- IANA zones ---------------------------------------------------------------------------

// A POSIX TZ rule ("AEST-10AEDT,M10.1.0,M4.1.0/3") for instants after the last transition.
struct PosixRule {
  int32_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int32_t dst_offset = 0;
  // Mm.w.d/time for the start and end of daylight time.
  int start_month = 0, start_week = 0, start_day = 0, start_time = 7200;
  int end_month = 0, end_week = 0, end_day = 0, end_time = 7200;
};

struct Zone {
  std::vector<int64_t> transitions;
  std::vector<uint8_t> type_of_transition;
  std::vector<int32_t> type_offsets;
  bool has_rule = false;
  PosixRule rule;
};

bool ParsePosixName(std::string_view s, size_t* pos) {
  if (*pos < s.size() && s[*pos] == '<') {
    size_t end = s.find('>', *pos);
    if (end == std::string_view::npos) return false;
    *pos = end + 1;
    return true;
  }
  size_t start = *pos;
  while (*pos < s.size() &&
         ((s[*pos] >= 'A' && s[*pos] <= 'Z') || (s[*pos] >= 'a' && s[*pos] <= 'z'))) {
    ++*pos;
  }
  return *pos > start;
}

// [+-]hh[:mm[:ss]] in seconds.
bool ParsePosixTime(std::string_view s, size_t* pos, int32_t* out) {
  int sign = 1;
  if (*pos < s.size() && (s[*pos] == '+' || s[*pos] == '-')) {
    sign = s[*pos] == '-' ? -1 : 1;
    ++*pos;
  }
  int32_t parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (*pos >= s.size() || s[*pos] != ':') break;
      ++*pos;
    }
    size_t start = *pos;
    while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
      parts[i] = parts[i] * 10 + (s[*pos] - '0');
      ++*pos;
    }
    if (*pos == start) return false;
  }
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool ParsePosixDate(std::string_view s, size_t* pos, int* month, int* week, int* day, int* time) {
  if (*pos >= s.size() || s[*pos] != 'M') return false;
  ++*pos;
  int values[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (*pos >= s.size() || s[*pos] != '.') return false;
      ++*pos;
    }
    while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9')
      values[i] = values[i] * 10 + (s[(*pos)++] - '0');
  }
  *month = values[0];
  *week = values[1];
  *day = values[2];
  *time = 7200;
  if (*pos < s.size() && s[*pos] == '/') {
    ++*pos;
    int32_t t = 0;
    if (!ParsePosixTime(s, pos, &t)) return false;
    *time = t;
  }
  return true;
}

bool ParsePosixRule(std::string_view s, PosixRule* rule) {
  size_t pos = 0;
  int32_t offset = 0;
  if (!ParsePosixName(s, &pos) || !ParsePosixTime(s, &pos, &offset)) return false;
  rule->std_offset = -offset;
  if (pos >= s.size()) return true;
  if (!ParsePosixName(s, &pos)) return false;
  rule->has_dst = true;
  rule->dst_offset = rule->std_offset + 3600;
  if (pos < s.size() && s[pos] != ',') {
    if (!ParsePosixTime(s, &pos, &offset)) return false;
    rule->dst_offset = -offset;
  }
  if (pos >= s.size() || s[pos] != ',') return false;
  ++pos;
  if (!ParsePosixDate(s, &pos, &rule->start_month, &rule->start_week, &rule->start_day,
                      &rule->start_time)) {
    return false;
  }
  if (pos >= s.size() || s[pos] != ',') return false;
  ++pos;
  return ParsePosixDate(s, &pos, &rule->end_month, &rule->end_week, &rule->end_day,
                        &rule->end_time);
}

// Seconds since the epoch (local wall clock, before applying `offset`) of "Mm.w.d" in `year`.
int64_t RuleDay(int64_t year, int month, int week, int weekday) {
  int64_t first = DaysFromCivil(year, month, 1);
  int first_weekday = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  int64_t day = first + ((weekday - first_weekday + 7) % 7) + (week - 1) * 7;
  int64_t next_month =
      month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, month + 1, 1);
  while (day >= next_month) day -= 7;
  return day;
}

int32_t RuleOffset(const PosixRule& r, int64_t t) {
  if (!r.has_dst) return r.std_offset;
  int64_t y;
  unsigned m, d;
  CivilFromDays((t + r.std_offset) / 86400 - ((t + r.std_offset) % 86400 < 0), &y, &m, &d);
  int64_t start =
      RuleDay(y, r.start_month, r.start_week, r.start_day) * 86400 + r.start_time - r.std_offset;
  int64_t end = RuleDay(y, r.end_month, r.end_week, r.end_day) * 86400 + r.end_time - r.dst_offset;
  bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r.dst_offset : r.std_offset;
}

int64_t ReadBigEndian(const std::string& data, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(data[pos + i]);
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

bool LoadZone(const std::string& name, Zone* zone) {
  if (name.empty() || name.find("..") != std::string::npos || name[0] == '/') return false;
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  if (data.size() < 44 || data.compare(0, 4, "TZif") != 0) return false;
  auto counts = [&](size_t at, int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = ReadBigEndian(data, at + 20 + 4 * i, 4);
  };
  int64_t c[6];  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  size_t pos = 44;
  int time_size = 4;
  if (data[4] >= '2') {
    pos += c[3] * 4 + c[3] + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    if (pos + 44 > data.size()) return false;
    counts(pos, c);
    pos += 44;
    time_size = 8;
  }
  const size_t need =
      c[3] * time_size + c[3] + c[4] * 6 + c[5] + c[2] * (time_size + 4) + c[1] + c[0];
  if (pos + need > data.size()) return false;
  for (int64_t i = 0; i < c[3]; ++i)
    zone->transitions.push_back(ReadBigEndian(data, pos + i * time_size, time_size));
  pos += c[3] * time_size;
  for (int64_t i = 0; i < c[3]; ++i)
    zone->type_of_transition.push_back(static_cast<uint8_t>(data[pos + i]));
  pos += c[3];
  for (int64_t i = 0; i < c[4]; ++i)
    zone->type_offsets.push_back(static_cast<int32_t>(ReadBigEndian(data, pos + i * 6, 4)));
  pos += need - c[3] * time_size - c[3];
  if (time_size == 8 && pos < data.size() && data[pos] == '\n') {
    size_t end = data.find('\n', pos + 1);
    if (end != std::string::npos) {
      zone->has_rule =
          ParsePosixRule(std::string_view(data).substr(pos + 1, end - pos - 1), &zone->rule);
    }
  }
  return !zone->type_offsets.empty();
}

Result<int32_t> ZoneOffset(std::string_view zone_name, int64_t t) {
  if (zone_name.empty() || zone_name == "UTC" || zone_name == "Z") return 0;
  const char first = zone_name[0];
  if (first == '+' || first == '-' || (first >= '0' && first <= '9')) {
    std::string_view s = zone_name;
    int sign = 1;
    if (s[0] == '+' || s[0] == '-') {
      sign = s[0] == '-' ? -1 : 1;
      s.remove_prefix(1);
    }
    int64_t h = 0, m = 0;
    if (s.size() != 5 || s[2] != ':' || !ReadDigits(s, 0, 2, &h) || !ReadDigits(s, 3, 2, &m)) {
      return MakeError("invalid timezone offset '" + std::string(zone_name) + "'");
    }
    return static_cast<int32_t>(sign * (h * 3600 + m * 60));
  }
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Zone>, std::less<>> cache;
  std::shared_ptr<const Zone> zone;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(zone_name);
    if (it != cache.end()) {
      zone = it->second;
    } else {
      auto loaded = std::make_shared<Zone>();
      if (!LoadZone(std::string(zone_name), loaded.get())) loaded.reset();
      zone = loaded;
      cache.emplace(std::string(zone_name), zone);
    }
  }
  if (!zone) return MakeError("unknown time zone '" + std::string(zone_name) + "'");
  const auto& tr = zone->transitions;
  if (tr.empty() || t < tr.front()) {
    if (tr.empty() && zone->has_rule) return RuleOffset(zone->rule, t);
    return zone->type_offsets.front();
  }
  if (t >= tr.back() && zone->has_rule) return RuleOffset(zone->rule, t);
  size_t i = std::upper_bound(tr.begin(), tr.end(), t) - tr.begin() - 1;
  uint8_t type = zone->type_of_transition[i];
  if (type >= zone->type_offsets.size()) return MakeError("corrupt time zone data");
  return zone->type_offsets[type];
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool TimestampInRange(Nanos128 n) {
  return n >= static_cast<Nanos128>(kMinTimestampSeconds) * kNanosPerSecond &&
         n < (static_cast<Nanos128>(kMaxTimestampSeconds) + 1) * kNanosPerSecond;
}

bool DurationInRange(Nanos128 n) {
  const Nanos128 limit = static_cast<Nanos128>(kMaxDurationSeconds) * kNanosPerSecond;
  return n >= -limit && n <= limit;
}

Result<Timestamp> ParseTimestamp(std::string_view s) {
  auto bad = [&]() { return MakeError("invalid timestamp '" + std::string(s) + "'"); };
  int64_t year, month, day, hour, minute, second;
  if (s.size() < 20 || !ReadDigits(s, 0, 4, &year) || s[4] != '-' || !ReadDigits(s, 5, 2, &month) ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !ReadDigits(s, 11, 2, &hour) || s[13] != ':' || !ReadDigits(s, 14, 2, &minute) ||
      s[16] != ':' || !ReadDigits(s, 17, 2, &second)) {
    // Years beyond four digits are out of range rather than malformed.
    if (s.size() > 5 && s.find('-') > 4 && s.find('-') != std::string_view::npos) {
      return MakeError("timestamp out of range");
    }
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return bad();
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int64_t oh, om;
    if (!ReadDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadDigits(s, pos + 4, 2, &om)) {
      return bad();
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  int64_t secs =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset;
  if (secs < kMinTimestampSeconds || secs > kMaxTimestampSeconds) {
    return MakeError("timestamp out of range");
  }
  return Timestamp{secs, static_cast<int32_t>(nanos)};
}

Result<Nanos128> ParseDuration(std::string_view s) {
  const std::string original(s);
  auto bad = [&]() { return MakeError("invalid duration '" + original + "'"); };
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Nanos128(0);
  if (s.empty()) return bad();
  Nanos128 total = 0;
  const Nanos128 limit = static_cast<Nanos128>(1) << 100;
  while (!s.empty()) {
    Nanos128 whole = 0;
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      whole = whole * 10 + (s[i] - '0');
      if (whole > limit) return MakeError("duration out of range");
      ++i;
    }
    bool had_digits = i > 0;
    Nanos128 frac = 0, frac_scale = 1;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (frac_scale < 1'000'000'000'000'000'000LL) {
          frac = frac * 10 + (s[i] - '0');
          frac_scale *= 10;
        }
        had_digits = true;
        ++i;
      }
    }
    if (!had_digits) return bad();
    size_t unit_start = i;
    while (i < s.size() && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') ++i;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    int64_t unit_nanos;
    if (unit == "ns") {
      unit_nanos = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      unit_nanos = 1000;
    } else if (unit == "ms") {
      unit_nanos = 1'000'000;
    } else if (unit == "s") {
      unit_nanos = kNanosPerSecond;
    } else if (unit == "m") {
      unit_nanos = 60 * kNanosPerSecond;
    } else if (unit == "h") {
      unit_nanos = 3600 * kNanosPerSecond;
    } else {
      return bad();
    }
    total += whole * unit_nanos + frac * unit_nanos / frac_scale;
    if (total > limit) return MakeError("duration out of range");
    s.remove_prefix(i);
  }
  if (negative) total = -total;
  if (!DurationInRange(total)) return MakeError("duration out of range");
  return total;
}

Result<CivilTime> ToCivil(int64_t seconds, std::string_view zone) {
  MIGDRA_ASSIGN_OR_RETURN(int32_t offset, ZoneOffset(zone, seconds));
  const int64_t local = seconds + offset;
  int64_t days = local / 86400;
  int64_t rem = local % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  CivilTime c{};
  unsigned m, d;
  CivilFromDays(days, &c.year, &m, &d);
  c.month = static_cast<int>(m);
  c.day = static_cast<int>(d);
  c.hour = static_cast<int>(rem / 3600);
  c.minute = static_cast<int>(rem % 3600 / 60);
  c.second = static_cast<int>(rem % 60);
  c.day_of_week = static_cast<int>(((days % 7) + 11) % 7);
  c.day_of_year = static_cast<int>(days - DaysFromCivil(c.year, 1, 1));
  return c;
}

}  // namespace migdra::cel
