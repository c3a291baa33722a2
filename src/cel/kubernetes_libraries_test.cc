// Kubernetes' CEL libraries, driven by data: the cases of the libraries' own Go tests
// (k8s.io/apiserver/pkg/cel/library: ip_test.go, cidr_test.go, the URL, quantity, regex and
// lists cases of apiextensions' validation_test.go, format_test.go), each a
// line of the table below, evaluated in the Kubernetes environment (checker.h's kKubernetes):
//
//   EXPR => EXPECTED      EXPR and EXPECTED evaluate to equal values
//   EXPR !! MESSAGE       evaluation fails with exactly MESSAGE
//   EXPR ## MESSAGE       compilation fails with a message containing MESSAGE
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "cel/interpreter.h"

namespace migdra::cel {
namespace {

constexpr const char* kCases = R"cases(
# ip_test.go
ip("192.168.0.1") => ip("192.168.0.1")
ip("192.168.0.1.0") !! IP Address "192.168.0.1.0" parse error during conversion from string: ParseAddr("192.168.0.1.0"): IPv4 address too long
isIP("192.168.0.1") => true
isIP("192.168.0.1.0") => false
ip.isCanonical("127.0.0.1") => true
ip.isCanonical("127.0.0.1.0") !! IP Address "127.0.0.1.0" parse error during conversion from string: ParseAddr("127.0.0.1.0"): IPv4 address too long
ip("192.168.0.1").family() => 4
ip("0.0.0.0").isUnspecified() => true
ip("127.0.0.1").isUnspecified() => false
ip("127.0.0.1").isLoopback() => true
ip("1.2.3.4").isLoopback() => false
ip("224.0.0.1").isLinkLocalMulticast() => true
ip("224.0.1.1").isLinkLocalMulticast() => false
ip("169.254.169.254").isLinkLocalUnicast() => true
ip("192.168.0.1").isLinkLocalUnicast() => false
ip("192.168.0.1").isGlobalUnicast() => true
ip("255.255.255.255").isGlobalUnicast() => false
ip("2001:db8::68") => ip("2001:db8::68")
ip("2001:db8:::68") !! IP Address "2001:db8:::68" parse error during conversion from string: ParseAddr("2001:db8:::68"): each colon-separated field must have at least one digit (at ":68")
isIP("2001:db8::68") => true
isIP("2001:db8:::68") => false
ip.isCanonical("2001:db8::68") => true
ip.isCanonical("2001:DB8::68") => false
ip.isCanonical("2001:db8:::68") !! IP Address "2001:db8:::68" parse error during conversion from string: ParseAddr("2001:db8:::68"): each colon-separated field must have at least one digit (at ":68")
ip("2001:db8::68").family() => 6
ip("::").isUnspecified() => true
ip("::1").isUnspecified() => false
ip("::1").isLoopback() => true
ip("2001:db8::abcd").isLoopback() => false
ip("ff02::1").isLinkLocalMulticast() => true
ip("fd00::1").isLinkLocalMulticast() => false
ip("fe80::1").isLinkLocalUnicast() => true
ip("fd80::1").isLinkLocalUnicast() => false
ip("2001:db8::abcd").isGlobalUnicast() => true
ip("ff00::1").isGlobalUnicast() => false
isIP(cidr("192.168.0.0/24")) ## found no matching overload for 'isIP' applied to '(net.CIDR)'
string(ip("192.168.0.1")) => "192.168.0.1"
type(ip("192.168.0.1")) == net.IP => true
# the documented examples of ip.go
ip.isCanonical('2001:db8::0:0:0:abcd') => false
ip('::ffff:1.2.3.4') !! IPv4-mapped IPv6 address "::ffff:1.2.3.4" is not allowed
ip('fe80::1%eth0') !! IP address "fe80::1%eth0" with zone value is not allowed
ip('127.0.0.256') !! IP Address "127.0.0.256" parse error during conversion from string: ParseAddr("127.0.0.256"): IPv4 field has value >255
ip('010.0.0.1') !! IP Address "010.0.0.1" parse error during conversion from string: ParseAddr("010.0.0.1"): IPv4 field has octet with leading zero
string(ip('2001:0db8:0000:0000:0000:0000:0000:0001')) => '2001:db8::1'
# cidr_test.go
cidr(192168) ## found no matching overload for 'cidr' applied to '(int)'
cidr(dyn("192.168.0.0/24")) => cidr("192.168.0.0/24")
cidr("192.168.0.0/") !! network address parse error during conversion from string: network address parse error during conversion from string: netip.ParsePrefix("192.168.0.0/"): bad bits after slash: ""
cidr("192.168.0.0/24").containsIP(ip("192.168.0.1")) => true
cidr("192.168.0.0/24").containsIP(ip("192.168.1.1")) => false
cidr("192.168.0.0/24").containsIP("192.168.0.1") => true
cidr("192.168.0.0/24").containsIP("192.168.1.1") => false
cidr("192.168.0.0/24").containsCIDR(cidr("192.168.0.0/25")) => true
cidr("192.168.0.0/24").containsCIDR(cidr("192.168.0.0/23")) => false
cidr("192.168.0.0/24").containsCIDR("192.168.0.0/25") => true
cidr("192.168.0.0/24").containsCIDR("192.168.0.0/23") => false
cidr("192.168.0.0/24").ip() => ip("192.168.0.0")
cidr("192.168.0.0/24").masked() => cidr("192.168.0.0/24")
cidr("192.168.0.1/24").masked() => cidr("192.168.0.0/24")
cidr("192.168.0.0/24").prefixLength() => 24
cidr("2001:db8::/32") => cidr("2001:db8::/32")
cidr("2001:db8::/") !! network address parse error during conversion from string: network address parse error during conversion from string: netip.ParsePrefix("2001:db8::/"): bad bits after slash: ""
cidr("2001:db8::/32").containsIP(ip("2001:db8::1")) => true
cidr("2001:db8::/32").containsIP(ip("2001:dc8::1")) => false
cidr("2001:db8::/32").containsIP("2001:db8::1") => true
cidr("2001:db8::/32").containsIP("2001:dc8::1") => false
cidr("2001:db8::/32").containsCIDR(cidr("2001:db8::/33")) => true
cidr("2001:db8::/32").containsCIDR(cidr("2001:db8::/31")) => false
cidr("2001:db8::/32").containsCIDR("2001:db8::/33") => true
cidr("2001:db8::/32").containsCIDR("2001:db8::/31") => false
cidr("2001:db8::/32").ip() => ip("2001:db8::")
cidr("2001:db8::/32").masked() => cidr("2001:db8::/32")
cidr("2001:db8:1::/32").masked() => cidr("2001:db8::/32")
cidr("2001:db8::/32").prefixLength() => 32
string(cidr("192.168.0.0/24")) => "192.168.0.0/24"
type(cidr("192.168.0.0/24")) == net.CIDR => true
cidr('192.168.0.1/24') == cidr('192.168.0.1/24').masked() => false
cidr('::1/128').ip().family() => 6
cidr('192.168.0.0/33') !! network address parse error during conversion from string: network address parse error during conversion from string: netip.ParsePrefix("192.168.0.0/33"): prefix length out of range
isCIDR('::1/129') => false
# URLs (apiextensions validation_test.go, "URL parsing")
url('/path').getScheme() => ''
url('https://example.com/').getScheme() => 'https'
url('https://example.com:80/').getHost() => 'example.com:80'
url('https://example.com/').getHost() => 'example.com'
url('https://[::1]:80/').getHost() => '[::1]:80'
url('https://[::1]/').getHost() => '[::1]'
url('/path').getHost() => ''
url('https://example.com:80/').getHostname() => 'example.com'
url('https://127.0.0.1/').getHostname() => '127.0.0.1'
url('https://[::1]/').getHostname() => '::1'
url('/path').getHostname() => ''
url('https://example.com:80/').getPort() => '80'
url('https://example.com/').getPort() => ''
url('/path').getPort() => ''
url('https://example.com/path').getEscapedPath() => '/path'
url('https://example.com/with space/').getEscapedPath() => '/with%20space/'
url('https://example.com').getEscapedPath() => ''
url('https://example.com/path?k1=a&k2=b&k2=c').getQuery() => {'k1': ['a'], 'k2': ['b', 'c']}
url('https://example.com/path?key with spaces=value with spaces').getQuery() => {'key with spaces': ['value with spaces']}
url('https://example.com/path?').getQuery().size() => 0
url('https://example.com/path').getQuery().size() => 0
url('https://user:pass@kubernetes.io:80/docs/home?k1=a&k2=b&k2=c#anchor').getHostname() => 'kubernetes.io'
url('https://user:pass@kubernetes.io:80/docs/home?k1=a&k2=b&k2=c#anchor').getEscapedPath() => '/docs/home'
url('https://user:pass@kubernetes.io:80/docs/home?k1=a&k2=b&k2=c#anchor').getQuery() => {'k1': ['a'], 'k2': ['b', 'c']}
isURL('https://user:pass@example.com:80/path?query=val#fragment') => true
isURL('/path') => true
isURL('https://a:b:c/') => false
isURL('../relative-path') => false
url('../relative-path') !! URL parse error during conversion from string: parse "../relative-path": invalid URI for request
url('https:://kubernetes.io/').getHostname() != 'test' => true
# format_test.go
format.dns1123Label().validate("my-label-name") => optional.none()
format.dns1123Subdomain().validate("apiextensions.k8s.io") => optional.none()
format.qualifiedName().validate("apiextensions.k8s.io/v1beta1") => optional.none()
format.dns1123LabelPrefix().validate("my-label-prefix-") => optional.none()
format.dns1123SubdomainPrefix().validate("mysubdomain.prefix.-") => optional.none()
format.dns1035LabelPrefix().validate("my-label-prefix-") => optional.none()
format.uri().validate("http://example.com") => optional.none()
format.uuid().validate("123e4567-e89b-12d3-a456-426614174000") => optional.none()
format.byte().validate("aGVsbG8=") => optional.none()
format.date().validate("2021-01-01") => optional.none()
format.datetime().validate("2021-01-01T00:00:00Z") => optional.none()
format.dns1123Label().validate("contains a space") => optional.of(["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"])
format.dns1123Subdomain().validate("contains a space") => optional.of(["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"])
format.dns1035Label().validate("contains a space") => optional.of(["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"])
format.qualifiedName().validate("contains a space") => optional.of(["name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"])
format.dns1123LabelPrefix().validate("contains a space-") => optional.of(["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"])
format.dns1123SubdomainPrefix().validate("contains a space-") => optional.of(["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"])
format.dns1035LabelPrefix().validate("contains a space-") => optional.of(["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"])
format.dns1123Subdomain().validate("example.com") => optional.none()
format.dns1035Label().validate("my-label-name") => optional.none()
format.qualifiedName().validate("my.name") => optional.none()
format.byte().validate("aGVsbG8") => optional.of(["invalid base64"])
format.date().validate("2020-01-01") => optional.none()
format.date().validate("2020-01-32") => optional.of(["invalid date"])
format.datetime().validate("2020-01-01T00:00:00Z") => optional.none()
format.datetime().validate("2020-01-32T00:00:00Z") => optional.of(["invalid datetime"])
format.named("unknown").hasValue() => false
format.labelValue().validate("my-cool-label-Value") => optional.none()
format.labelValue().validate("my-cool-label-Value!!\n\n!!!") => optional.of(["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"])
format.uri().validate('example') => optional.of(['parse "example": invalid URI for request'])
format.dns1123Label().validate(1) ## found no matching overload for 'validate' applied to 'kubernetes.NamedFormat.(int)'
format.named("dns1123Label").hasValue() => true
format.named("dns1123Label").value() == format.dns1123Label() => true
format.named("dns1123Subdomain").hasValue() => true
format.named("dns1123Subdomain").value() == format.dns1123Subdomain() => true
format.named("dns1035Label").hasValue() => true
format.named("dns1035Label").value() == format.dns1035Label() => true
format.named("qualifiedName").hasValue() => true
format.named("qualifiedName").value() == format.qualifiedName() => true
format.named("dns1123LabelPrefix").hasValue() => true
format.named("dns1123LabelPrefix").value() == format.dns1123LabelPrefix() => true
format.named("dns1123SubdomainPrefix").hasValue() => true
format.named("dns1123SubdomainPrefix").value() == format.dns1123SubdomainPrefix() => true
format.named("dns1035LabelPrefix").hasValue() => true
format.named("dns1035LabelPrefix").value() == format.dns1035LabelPrefix() => true
format.named("labelValue").hasValue() => true
format.named("labelValue").value() == format.labelValue() => true
format.named("uri").hasValue() => true
format.named("uri").value() == format.uri() => true
format.named("uuid").hasValue() => true
format.named("uuid").value() == format.uuid() => true
format.named("byte").hasValue() => true
format.named("byte").value() == format.byte() => true
format.named("date").hasValue() => true
format.named("date").value() == format.date() => true
format.named("datetime").hasValue() => true
format.named("datetime").value() == format.datetime() => true
format.dns1123Label() == format.dns1123Subdomain() => false
format.dns1123Subdomain() == format.dns1035Label() => false
format.dns1035Label() == format.qualifiedName() => false
format.qualifiedName() == format.dns1123LabelPrefix() => false
format.dns1123LabelPrefix() == format.dns1123SubdomainPrefix() => false
format.dns1123SubdomainPrefix() == format.dns1035LabelPrefix() => false
format.dns1035LabelPrefix() == format.labelValue() => false
format.labelValue() == format.uri() => false
format.uri() == format.uuid() => false
format.uuid() == format.byte() => false
format.byte() == format.date() => false
format.date() == format.datetime() => false
format.datetime() == format.dns1123Label() => false
# quantity.go (global and member overloads as declared)
quantity('1.5Gi').compareTo(quantity('1536Mi')) => 0
quantity("50k").add(quantity("20")) == quantity("50.02k") => true
quantity("50k").sub(20000) == quantity("30k") => true
sign(quantity("-1")) => -1
quantity("1").sign() ## found no matching overload for 'sign' applied to 'kubernetes.Quantity.()'
quantity(1) ## found no matching overload for 'quantity' applied to '(int)'
quantity("200M").compareTo(quantity("0.2G")) => 0
quantity("50M").compareTo(quantity("50Mi")) => -1
quantity("9999999999999999999999999999999999999G").isInteger() => false
quantity("50k").add(20).sub(quantity("100k")).sub(-50000) == quantity("20") => true
# lists.go and regex.go
[1,2,3,4].isSorted() => true
['a', 'b'].sum() ## found no matching overload for 'sum' applied to 'list(string).()'
[1, 2, 3].indexOf(2) => 1
'abc 123 def 456'.findAll('[0-9]+', -1) => ['123', '456']
# Kubernetes' HomogeneousAggregateLiterals
[1, 'a'] ## expected type 'int' but found 'string'
'%s %d'.format(['a', 1]) => 'a 1'
# cel-go ext.Lists v3 (lists.go, lists_test.go): sort() takes lists of comparable types only,
# sortBy() is a macro over @sortByAssociatedKeys; first()/last() come with optional types v2
[].sort() == [] => true
[4, 3, 2, 1].sort() => [1, 2, 3, 4]
["d", "a", "b", "c"].sort() => ["a", "b", "c", "d"]
[dyn("d"), dyn(3), dyn(2), dyn("c")].sort() !! list elements must have the same type
[[1], [2]].sort() ## found no matching overload for 'sort' applied to 'list(list(int)).()'
[{'a': 1}].sort() ## found no matching overload for 'sort' applied to 'list(map(string, int)).()'
[].sortBy(e, e) == [] => true
["a"].sortBy(e, e) => ["a"]
[-3, 1, -5, -2, 4].sortBy(e, -(e * e)) => [-5, 4, -3, -2, 1]
[-3, 1, -5, -2, 4].map(e, e * 2).sortBy(e, -(e * e)) => [-10, 8, -6, -4, 2]
lists.range(3).sortBy(e, -e) => [2, 1, 0]
["a", "c", "b", "first"].sortBy(e, e == "first" ? "" : e) => ["first", "a", "b", "c"]
[{'field': 'lo'}, {'field': 'hi'}].sortBy(m, m.field) => [{'field': 'hi'}, {'field': 'lo'}]
[[2], [1]].sortBy(e, e) ## found no matching overload for '@sortByAssociatedKeys'
[1, 2].sortBy(1, 2) ## argument is not an identifier
[1, 2].map(1, 2) ## argument is not an identifier
[1, 2, 3].first() => optional.of(1)
[1, 2, 3].last() => optional.of(3)
[].first() => optional.none()
# cel-go ext.Strings v2 (strings.go): no string reverse(); format()'s compile-time check of a
# literal format string against a list literal (formatting.go's stringFormatValidator, the
# cases of formatting_test.go that compile)
'abc'.reverse() ## found no matching overload for 'reverse' applied to 'string.()'
"%s %s".format(["abc"]) ## index 1 out of range
"%s %s".format(["abc", "def", "ghi"]) ## too many arguments supplied to string.format (expected 2, got 3)
"filler %".format([]) ## unexpected end of string
"%j".format([123]) ## could not parse formatting clause: unrecognized formatting clause "j"
"object is %s".format([quantity("1")]) ## error during formatting: string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, durations, and timestamps, was given kubernetes.Quantity
"list is %s".format([[1, 2, quantity("1")]]) ## 1:37: error during formatting: string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, durations, and timestamps, was given kubernetes.Quantity
"int is %d".format([5.2]) ## 1:21: error during formatting: decimal clause can only be used on integers, was given double
"double is %f".format([true]) ## error during formatting: fixed-point clause can only be used on doubles, was given bool
"double is %.34".format([5.0]) ## could not parse formatting clause: error while parsing precision: could not find end of precision specifier
"double is %e".format([true]) ## error during formatting: scientific clause can only be used on doubles, was given bool
"string is %b".format(["a string"]) ## error during formatting: only integers and bools can be formatted as binary, was given string
"%x is a double".format([2.5]) ## error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given double
"%X is a double".format([2.5]) ## error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given double
"an octal: %o".format([3.14]) ## error during formatting: octal clause can only be used on integers, was given double
"null: %d".format([null]) ## error during formatting: decimal clause can only be used on integers, was given null_type
"%d %s %.2f %e %b %x %o".format([1, [1u], 0.5, 2.5, true, b"a", 8]) => "1 [1] 0.50 2.500000\u202f\u00d7\u202f10\u2070\u2070 1 61 10"
"%d".format([dyn("a")]) !! error during formatting: decimal clause can only be used on integers, was given string
"%%%s%%".format(["text"]) => "%text%"
# formatting_test.go: format() at run time, as ext.Strings formats below version 4 (formatting.go,
# locale en_US through golang.org/x/text/message); a dyn() argument list skips the compile-time check
"no substitution".format([]) => "no substitution"
"str is %s and some more".format(["filler"]) => "str is filler and some more"
"%% and also %%".format([]) => "% and also %"
"%%%s%%".format(["text"]) => "%text%"
"%s%%".format(["percent on the right"]) => "percent on the right%"
"%%%s".format(["percent on the left"]) => "%percent on the left"
"%d %d %d, %s %s %s, %d %d %d, %s %s %s".format([1, 2, 3, "A", "B", "C", 4, 5, 6, "D", "E", "F"]) => "1 2 3, A B C, 4 5 6, D E F"
"\u0025\u0025escaped \u0025s\u0025\u0025".format(["percent"]) => "%escaped percent%"
"%.3f".format([1.2345]) => "1.234"
"this is 5 in binary: %b".format([5]) => "this is 5 in binary: 101"
"this is -5 in binary: %b".format([-5]) => "this is -5 in binary: -101"
"unsigned 64 in binary: %b".format([uint(64)]) => "unsigned 64 in binary: 1000000"
"bit set from bool: %b".format([true]) => "bit set from bool: 1"
"%o".format([11]) => "13"
"%o".format([-11]) => "-13"
"this is an unsigned octal: %o".format([uint(65535)]) => "this is an unsigned octal: 177777"
"%x is 30 in hexadecimal".format([30]) => "1e is 30 in hexadecimal"
"%X is 20 in hexadecimal".format([30]) => "1E is 20 in hexadecimal"
"%x is -30 in hexadecimal".format([-30]) => "-1e is -30 in hexadecimal"
"%X is 6000 in hexadecimal".format([uint(6000)]) => "1770 is 6000 in hexadecimal"
"%x".format(["Hello world!"]) => "48656c6c6f20776f726c6421"
"%X".format(["Hello world!"]) => "48656C6C6F20776F726C6421"
"%x".format([b"byte string"]) => "6279746520737472696e67"
"%x".format([b"\x00\x00byte string\x00"]) => "00006279746520737472696e6700"
"%X".format([b"byte string"]) => "6279746520737472696E67"
"%.6e".format([1052.032911275]) => "1.052033\u202f\u00d7\u202f10\u2070\u00b3"
"%f".format([2.71828]) => "2.718280"
"%e".format([2.71828]) => "2.718280\u202f\u00d7\u202f10\u2070\u2070"
"%s".format([2.71]) => "2.71"
"%s".format([[2.71]]) => "[2.710000]"
"%s".format([0.000000002]) => "2e-09"
"%s".format([[0.000000002]]) => "[0.000000]"
"unescaped unicode: %e, escaped unicode: %e".format([2.71828, 2.71828]) => "unescaped unicode: 2.718280 × 10⁰⁰, escaped unicode: 2.718280\u202f\u00d7\u202f10\u2070\u2070"
"%f".format(["NaN"]) => "NaN"
"%f".format(["Infinity"]) => "∞"
"%f".format(["-Infinity"]) => "-∞"
"%s".format([double("NaN")]) => "NaN"
"%s".format([double("Inf")]) => "+Inf"
"%s".format([double("-Inf")]) => "-Inf"
"%s".format([[double("NaN"),double("+Inf"), double("-Inf")]]) => '["NaN", "+Inf", "-Inf"]'
"%d".format([uint(64)]) => "64"
"null: %s".format([null]) => "null: null"
"%s".format([999999999999]) => "999999999999"
"some bytes: %s".format([b"xyz"]) => "some bytes: xyz"
"type is %s".format([type("test string")]) => "type is string"
"%s".format([timestamp("2023-02-03T23:31:20+00:00")]) => "2023-02-03T23:31:20Z"
"%s".format([duration("1h45m47s")]) => "6347s"
"%s".format([duration("2ns")]) => "0.000000002s"
"%s".format([["abc", 3.14, null, [9, 8, 7, 6], timestamp("2023-02-03T23:31:20Z")]]) => '["abc", 3.140000, null, [9, 8, 7, 6], timestamp("2023-02-03T23:31:20Z")]'
"%s".format([{"key1": b"xyz", "key5": null, "key2": duration("2h"), "key4": true, "key3": 2.71828}]) => '{"key1":b"xyz", "key2":duration("7200s"), "key3":2.718280, "key4":true, "key5":null}'
"map with multiple key types: %s".format([{1: "value1", uint(2): "value2", true: double("NaN")}]) => 'map with multiple key types: {1:"value1", 2:"value2", true:"NaN"}'
"true bool: %s, false bool: %s".format([true, false]) => "true bool: true, false bool: false"
"dynamic string: %s".format([dyn("a string")]) => "dynamic string: a string"
"dynIntStr: %s dynDoubleStr: %s".format([dyn(32), dyn(56.8)]) => "dynIntStr: 32 dynDoubleStr: 56.8"
"dynamic int: %d".format([dyn(128)]) => "dynamic int: 128"
"dynamic unsigned int: %d".format([dyn(uint(256))]) => "dynamic unsigned int: 256"
"dynamic hex int: %x".format([dyn(22)]) => "dynamic hex int: 16"
"dynamic hex int: %X (uppercase)".format([dyn(26)]) => "dynamic hex int: 1A (uppercase)"
"dynamic hex int: %x (unsigned)".format([dyn(uint(500))]) => "dynamic hex int: 1f4 (unsigned)"
"dynamic double: %.3f".format([dyn(4.5)]) => "dynamic double: 4.500"
"(dyntype) e: %e".format([dyn(2.71828)]) => "(dyntype) e: 2.718280\u202f\u00d7\u202f10\u2070\u2070"
"NaN: %f, infinity: %f".format([dyn(double("NaN")), dyn(double("Inf"))]) => "NaN: NaN, infinity: ∞"
"dyntype timestamp: %s".format([dyn(timestamp("2009-11-10T23:00:00Z"))]) => "dyntype timestamp: 2009-11-10T23:00:00Z"
"dyntype duration: %s".format([dyn(duration("2h25m47s"))]) => "dyntype duration: 8747s"
"dyntype list: %s".format([dyn([6, 4.2, "a string"])]) => 'dyntype list: [6, 4.200000, "a string"]'
"dyntype map: %s".format([dyn({"strKey": "x", true: 42, 6: duration("7m2s")})]) => 'dyntype map: {"strKey":"x", 6:duration("422s"), true:42}'
"%a".format(dyn([1])) !! could not parse formatting clause: unrecognized formatting clause "a"
"%d %d %d".format(dyn([0, 1])) !! index 2 out of range
"string is %b".format(dyn(["abc"])) !! error during formatting: only integers and bools can be formatted as binary, was given string
"%d".format(dyn([duration("30m2s")])) !! error during formatting: decimal clause can only be used on integers, was given google.protobuf.Duration
"octal: %o".format(dyn(["a string"])) !! error during formatting: octal clause can only be used on integers, was given string
"double is %x".format(dyn([0.5])) !! error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given double
"double is %E".format(dyn([0.5])) !! could not parse formatting clause: unrecognized formatting clause "E"
"object is %s".format(dyn([quantity("1")])) !! error during formatting: string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, durations, and timestamps, was given kubernetes.Quantity
"%s".format(dyn([[1, 2, quantity("1")]])) !! error during formatting: no formatting function for kubernetes.Quantity
"%s".format(dyn([{1: "a", 2: quantity("1")}])) !! error during formatting: no formatting function for kubernetes.Quantity
"null: %d".format(dyn([null])) !! error during formatting: decimal clause can only be used on integers, was given null_type
"null: %e".format(dyn([null])) !! error during formatting: scientific clause can only be used on doubles, was given null_type
"null: %f".format(dyn([null])) !! error during formatting: fixed-point clause can only be used on doubles, was given null_type
"null: %x".format(dyn([null])) !! error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given null_type
"null: %X".format(dyn([null])) !! error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given null_type
"null: %b".format(dyn([null])) !! error during formatting: only integers and bools can be formatted as binary, was given null_type
"null: %o".format(dyn([null])) !! error during formatting: octal clause can only be used on integers, was given null_type
"%.200f".format([1.0]).size() => 202
# what else the printer and Go's fmt do (checked against golang.org/x/text/message and fmt)
"%f".format([-1234567.891]) => "-1,234,567.891000"
"%.0f".format([1052.032911275]) => "1,052"
"%.0f".format([2.5]) => "2"
"%f".format([-0.0]) => "0.000000"
"%.3f".format([-0.0000001]) => "-0.000"
"%.2f".format([1e21]) => "1,000,000,000,000,000,000,000.00"
"%.256f".format([1.0]) => "1"
"%.257f".format([2.5]) => "2.5"
"%.300f".format([0.1]) => "0.1000000000000000055511151231257827021181583404541015625"
"%.40000f".format([2.71828]) => "2.7182800000000000000000000000000000000000000000000000000000000000"
"%.99999999f".format([1.0]) => "%!(NOVERB)"
"%.99999999e".format([1.0]) => "%!(NOVERB)"
"%.2e".format([2.71828]) => "2.718280\u202f\u00d7\u202f10\u2070\u2070"
"%.20e".format([2.71828]) => "     2.718280\u202f\u00d7\u202f10\u2070\u2070"
"%.0e".format(["Infinity"]) => "∞"
"%e".format([double("NaN")]) => "   NaN"
"%e".format([-0.0000001]) => "-1.000000\u202f\u00d7\u202f10\u207b\u2070\u2077"
"%e".format([0.0]) => "0.000000\u202f\u00d7\u202f10\u2070\u2070"
"%s".format([123456789.0]) => "1.23456789e+08"
"%s".format([-0.0]) => "-0"
"%s".format([[1e21, -0.0]]) => "[1000000000000000000000.000000, -0.000000]"
"%s".format([duration("-1.5s")]) => "-1.5s"
"%s".format([duration("123456789.123456789s")]) => "123456789.12345679s"
"%s".format([timestamp("2023-01-01T00:00:00.100Z")]) => "2023-01-01T00:00:00.1Z"
"%s".format([[uint(1), type(1), "tab\t\u00a0\"", b"\x01"]]) => '[1, int, "tab\\t\\u00a0\\"", b"\\x01"]'
"%s".format([{"b": 1, 1: 2}]) => '{"b":1, 1:2}'
"%s".format([b"\xff"]) !! error during formatting: could not convert argument "invalid UTF-8 in bytes, cannot convert to string" to string
"%s".format([[b"\xff"]]) !! error during formatting: could not convert argument "invalid UTF-8 in bytes, cannot convert to string" to string
"%d".format([dyn(double("NaN"))]) !! error during formatting: decimal clause can only be used on integers, was given double
"%d %".format(dyn([1, 2])) !! unexpected end of string
"%d %".format(dyn([1])) !! index 1 out of range
"%.f".format(dyn([1.0])) !! could not parse formatting clause: error while parsing precision: error while converting precision to integer: strconv.Atoi: parsing "": invalid syntax
"%.99999999999999999999f".format(dyn([1.0])) !! could not parse formatting clause: error while parsing precision: error while converting precision to integer: strconv.Atoi: parsing "99999999999999999999": value out of range
"%é".format(dyn([1])) !! could not parse formatting clause: unrecognized formatting clause "Ã"
# no math extension in Kubernetes' environment: `math` is an unknown identifier
math.greatest(1, 2) ## 1:1: undeclared reference to 'math' (in container '')
base64.encode(b'a') ## 1:1: undeclared reference to 'base64' (in container '')
# bindings version 0: cel.bind only (cel.block is cel-go's optimizer output, not a macro here)
cel.bind(x, 2, x * x) => 4
cel.block([1], cel.index(0) == 1) ## 1:1: undeclared reference to 'cel' (in container '')
# Kubernetes' ASTValidators (environment/base.go, 1.29): cel-go's ValidateDurationLiterals,
# ValidateTimestampLiterals and ValidateRegexLiterals (cel/validator.go) evaluate a literal first
# argument at compile time; the global matches() checks its string, not its pattern
duration('1h') == duration('60m') => true
duration('x') ## 1:10: invalid duration argument
# cel-go's standard library declares duration(int) without converting an int to a duration
duration(1) ## 1:10: invalid duration argument
[1].all(i, duration(i) > duration('0s')) !! type conversion error from 'int' to 'google.protobuf.Duration'
timestamp('2024-01-01T00:00:00Z') < timestamp(1893456000) => true
timestamp('x') ## 1:11: invalid timestamp argument
'abc'.matches('b+') => true
'a'.matches('(') ## 1:13: invalid matches argument
[1].all(x, '1'.matches(string(x))) => true
matches('(', 'a') ## 1:9: invalid matches argument
)cases";

Env Kubernetes() {
  Env env;
  env.declarations = Declarations::kKubernetes;
  env.homogeneous_aggregate_literals = true;
  return env;
}

struct Evaluated {
  bool compiled = false;
  std::string error;  // compile or evaluation error
  Value value;
  std::shared_ptr<const Program> program;  // keeps borrowed strings alive
};

Evaluated CompileAndEvaluate(const std::string& expr) {
  Evaluated out;
  auto program = Program::Compile(expr, Kubernetes());
  if (!program.ok()) {
    out.error = program.error().message;
    return out;
  }
  out.compiled = true;
  out.program = *program;
  VectorActivation none({});
  out.value = (*program)->Evaluate(none).Owned();
  if (out.value.is_error()) out.error = out.value.error().message;
  return out;
}

TEST(KubernetesLibrariesTest, UpstreamCases) {
  std::istringstream lines(kCases);
  std::string line;
  int cases = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++cases;
    SCOPED_TRACE(line);
    for (const char* op : {" => ", " !! ", " ## "}) {
      const size_t at = line.find(op);
      if (at == std::string::npos) continue;
      const std::string expr = line.substr(0, at);
      const std::string want = line.substr(at + 4);
      Evaluated got = CompileAndEvaluate(expr);
      if (std::string(op) == " ## ") {
        EXPECT_FALSE(got.compiled);
        EXPECT_NE(got.error.find(want), std::string::npos) << got.error;
      } else if (std::string(op) == " !! ") {
        EXPECT_TRUE(got.compiled) << got.error;
        EXPECT_EQ(got.error, want);
      } else {
        Evaluated expected = CompileAndEvaluate(want);
        ASSERT_TRUE(got.error.empty()) << got.error;
        ASSERT_TRUE(expected.error.empty()) << expected.error;
        EXPECT_TRUE(ValuesEqual(got.value, expected.value))
            << DebugString(got.value) << " != " << DebugString(expected.value);
      }
      break;
    }
  }
  EXPECT_GT(cases, 190);
}

}  // namespace
}  // namespace migdra::cel
