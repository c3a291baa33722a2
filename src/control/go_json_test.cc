#include "control/go_json.h"

#include <gtest/gtest.h>

#include <string>

namespace migdra::control {
namespace {

// Each expected message is what Go 1.25's json.Unmarshal(text, &map[string]interface{}{})
// returns for the text.
struct Case {
  std::string text;
  std::string error;  // empty: accepted
};

TEST(GoJson, UnmarshalIntoMapMatchesGo) {
  const Case cases[] = {
      {R"({"auths": {"r": {"auth": "eA=="}}})", ""},
      {"null", ""},
      {" \t\r\n{}\n", ""},
      {"", "unexpected end of JSON input"},
      {"   ", "unexpected end of JSON input"},
      {R"({"auths": {})", "unexpected end of JSON input"},
      {"x", "invalid character 'x' looking for beginning of value"},
      {R"({"a" 1})", "invalid character '1' after object key"},
      {R"({"a":1 "b":2})", "invalid character '\"' after object key:value pair"},
      {"[1 2]", "invalid character '2' after array element"},
      {"{} x", "invalid character 'x' after top-level value"},
      {"{1:2}", "invalid character '1' looking for beginning of object key string"},
      {"{,}", "invalid character ',' looking for beginning of object key string"},
      {"[,]", "invalid character ',' looking for beginning of value"},
      {"tru", "invalid character ' ' in literal true (expecting 'e')"},
      {"nul!", "invalid character '!' in literal null (expecting 'l')"},
      {"fals", "invalid character ' ' in literal false (expecting 'e')"},
      {R"("\x")", "invalid character 'x' in string escape code"},
      {R"("\u12G4")", "invalid character 'G' in \\u hexadecimal character escape"},
      {"\"a\tb\"", "invalid character '\\t' in string literal"},
      {std::string("\"a\x01\""), "invalid character '\\x01' in string literal"},
      {"1.", "invalid character ' ' after decimal point in numeric literal"},
      {"1.x", "invalid character 'x' after decimal point in numeric literal"},
      {"-", "invalid character ' ' in numeric literal"},
      {"-a", "invalid character 'a' in numeric literal"},
      {"1e", "invalid character ' ' in exponent of numeric literal"},
      {"1e+", "invalid character ' ' in exponent of numeric literal"},
      {"01", "invalid character '1' after top-level value"},
      {"'a'", "invalid character '\\'' looking for beginning of value"},
      {"\\", "invalid character '\\\\' looking for beginning of value"},
      {"\x7f", "invalid character '\\x7f' looking for beginning of value"},
      // A byte is quoted as the rune of its value: 0xC3 (the first byte of "é") is 'Ã'.
      {"\xc3\xa9", "invalid character '\xc3\x83' looking for beginning of value"},
      {"\x85", "invalid character '\\u0085' looking for beginning of value"},
      {"\xa0", "invalid character '\\u00a0' looking for beginning of value"},
      {"\xad", "invalid character '\\u00ad' looking for beginning of value"},
      {"\xff", "invalid character '\xc3\xbf' looking for beginning of value"},
      // Bytes that are not UTF-8 are accepted inside strings.
      {"{\"a\": \"\xff\"}", ""},
      // Valid JSON that is not an object cannot fill a map.
      {"[]", "json: cannot unmarshal array into Go value of type map[string]interface {}"},
      {R"( "s")", "json: cannot unmarshal string into Go value of type map[string]interface {}"},
      {"-1.5e3", "json: cannot unmarshal number into Go value of type map[string]interface {}"},
      {"true", "json: cannot unmarshal bool into Go value of type map[string]interface {}"},
      {"false", "json: cannot unmarshal bool into Go value of type map[string]interface {}"},
  };
  for (const Case& c : cases) {
    std::optional<std::string> error = GoJsonUnmarshalIntoMapError(c.text);
    EXPECT_EQ(error.value_or(""), c.error) << "text: " << c.text;
  }
}

TEST(GoJson, NestingBeyondGosLimitIsASyntaxError) {
  EXPECT_EQ(GoJsonSyntaxError(std::string(10000, '[') + std::string(10000, ']')), std::nullopt);
  EXPECT_EQ(GoJsonSyntaxError(std::string(10001, '[')).value_or(""),
            "invalid character '[' exceeded max depth");
}

// json.Compact with HTML escaping, as Go's encoder writes a json.Marshaler's bytes: spacing
// outside strings goes; key order, string escapes and number spellings stay.
TEST(GoJson, CompactKeepsTheBytesButSpacingAndEscapesHtml) {
  EXPECT_EQ(GoCompactJson("{ \"b\" : [1.50, 1e3 ],\n\t\"a\": \"x y\\u0041\" }"),
            R"({"b":[1.50,1e3],"a":"x y\u0041"})");
  EXPECT_EQ(GoCompactJson("\"<a & b>\xE2\x80\xA8\xE2\x80\xA9\""),
            R"("\u003ca \u0026 b\u003e\u2028\u2029")");
  EXPECT_EQ(GoJsonText(nlohmann::json{{"z", "<"}, {"a", 1}}), R"({"a":1,"z":"\u003c"})");
}

}  // namespace
}  // namespace migdra::control
