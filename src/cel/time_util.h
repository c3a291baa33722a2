// Timestamps and durations for CEL: RFC 3339 and Go duration parsing, civil time fields, and
// time zones (fixed offsets and IANA names read from the system's zoneinfo files).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace migdra::cel {

// The CEL timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;
// The protobuf Duration range, +-10000 years.
inline constexpr int64_t kMaxDurationSeconds = 315576000000;

__extension__ typedef __int128 Nanos128;

struct Timestamp {
  int64_t seconds = 0;
  int32_t nanos = 0;
};

Result<Timestamp> ParseTimestamp(std::string_view text);
// Go's time.ParseDuration syntax ("1h30m", "-1.5s", "100ns"), in nanoseconds.
Result<Nanos128> ParseDuration(std::string_view text);
bool TimestampInRange(Nanos128 total_nanos);
bool DurationInRange(Nanos128 total_nanos);

struct CivilTime {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
  int hour, minute, second;
  int day_of_week;  // 0 = Sunday
  int day_of_year;  // 0-based
};

// `seconds` since the epoch, shifted into `zone` ("", "UTC", "+05:30", "-02:00", "02:00" or an
// IANA name such as "Australia/Sydney").
Result<CivilTime> ToCivil(int64_t seconds, std::string_view zone);

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

}  // namespace migdra::cel
