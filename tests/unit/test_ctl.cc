// The control socket's protocol (src/ctl/protocol.*): requests, answer
// heads, JSON strings.
#include <doctest/doctest.h>

#include <string>

#include "ctl/protocol.h"
#include "spec.h"

using namespace oxinit;
using namespace oxinit::ctl;

namespace {

std::string error_of(std::string_view line) {
  Request rq;
  Str err;
  if (parse_request(line, rq, err)) return "ok";
  return err.c_str();
}

Request req(std::string_view line) {
  Request rq;
  Str err;
  bool ok = parse_request(line, rq, err);
  INFO(err.c_str());
  REQUIRE(ok);
  return rq;
}

std::string json(std::string_view s) {
  Str out;
  json_string(out, s);
  return out.c_str();
}

}  // namespace

TEST_CASE("ctl: every command with its arguments") {
  Request r = req("status");
  CHECK(r.verb == Verb::Status);
  CHECK(r.count == 0);
  CHECK_FALSE(r.json);
  r = req("status web db.1 --json");
  CHECK(r.count == 2);
  CHECK(r.names[0] == "web");
  CHECK(r.names[1] == "db.1");
  CHECK(r.json);
  r = req("start a b c");
  CHECK((r.verb == Verb::Start && r.count == 3));
  CHECK(req("stop a").verb == Verb::Stop);
  CHECK(req("restart a").verb == Verb::Restart);
  r = req("signal web HUP");
  CHECK((r.verb == Verb::Signal && r.count == 1 && r.names[0] == "web" && r.signal == 1));
  CHECK(req("signal web SIGRTMIN+2").signal == 36);
  CHECK(req("signal web 9").signal == 9);
  CHECK(req("health").verb == Verb::Health);
  r = req("logs web");
  CHECK((r.verb == Verb::Logs && r.lines == 20 && !r.follow));
  r = req("logs web -n 5 -f");
  CHECK((r.lines == 5 && r.follow));
  CHECK(req("logs web --follow -n 0").lines == 0);
  CHECK(req("shutdown").action == -1);
  CHECK(req("shutdown --reboot").action == static_cast<int>(FinalAction::Reboot));
  CHECK(req("shutdown --halt").action == static_cast<int>(FinalAction::Halt));
  CHECK(req("shutdown --poweroff").action == static_cast<int>(FinalAction::Poweroff));
  CHECK(req("reload").verb == Verb::Reload);
  CHECK(req("  status   web  ").count == 1);  // blanks between words do not matter
}

TEST_CASE("ctl: bad requests get a message, never a partial request") {
  CHECK(error_of("") == "no command given");
  CHECK(error_of("   ") == "no command given");
  CHECK(error_of("launch web") == "unknown command \"launch\"");
  CHECK(error_of("start") == "name a service");
  CHECK(error_of("signal web") == "usage: signal NAME SIGNAL");
  CHECK(error_of("signal web NOPE") == "not a signal: \"NOPE\"");
  CHECK(error_of("signal web TERM extra") == "too many arguments: \"extra\"");
  CHECK(error_of("logs a b") == "too many arguments: \"b\"");
  CHECK(error_of("health web") == "too many arguments: \"web\"");
  CHECK(error_of("status --follow") == "option not known to this command: \"--follow\"");
  CHECK(error_of("status -x") == "unknown option \"-x\"");
  CHECK(error_of("logs web -n") == "-n: expected a number of lines");
  CHECK(error_of("logs web -n lots") == "-n: expected a number of lines up to 100000, got \"lots\"");
  CHECK(error_of("logs web -n 100001") == "-n: expected a number of lines up to 100000, got \"100001\"");
  CHECK(error_of("start we/b") == "not a service name: \"we/b\"");
  CHECK(error_of("start " + std::string(81, 'a')).substr(0, 20) == "not a service name: ");
  CHECK(error_of("status\tweb") == "control characters in the request");
  CHECK(error_of(std::string("status \0", 8)) == "control characters in the request");
  std::string many = "status";
  for (size_t k = 0; k < kMaxWords; k++) many += " s" + std::to_string(k);
  CHECK(error_of(many) == "ok");  // kMaxWords names
  CHECK(error_of(many + " one-more") == "too many arguments: \"one-more\"");
}

TEST_CASE("ctl: valid_name") {
  CHECK(valid_name("web"));
  CHECK(valid_name("worker.12"));
  CHECK(valid_name("a-b_c"));
  CHECK_FALSE(valid_name(""));
  CHECK_FALSE(valid_name("a b"));
  CHECK_FALSE(valid_name("ä"));
  CHECK(valid_name(std::string(kMaxName, 'x')));
  CHECK_FALSE(valid_name(std::string(kMaxName + 1, 'x')));
}

TEST_CASE("ctl: answer heads") {
  int code = -1;
  CHECK(parse_answer_head("0\nok", code) == 2);
  CHECK(code == 0);
  CHECK(parse_answer_head("255\n", code) == 4);
  CHECK(code == 255);
  CHECK(parse_answer_head("1", code) == 0);    // more to come
  CHECK(parse_answer_head("", code) == 0);
  CHECK(parse_answer_head("256\n", code) == -1);
  CHECK(parse_answer_head("x\n", code) == -1);
  CHECK(parse_answer_head("\n", code) == -1);
  CHECK(parse_answer_head("1234", code) == -1);  // no head is that long
}

TEST_CASE("ctl: JSON strings") {
  CHECK(json("web") == "\"web\"");
  CHECK(json("") == "\"\"");
  CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json("tab\there\nnl") == "\"tab\\there\\nnl\"");
  CHECK(json(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // Invalid UTF-8 becomes U+FFFD, byte by byte: overlong, surrogate, cut short, stray.
  CHECK(json("\xc0\xaf") == "\"\\ufffd\\ufffd\"");
  CHECK(json("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");
  CHECK(json("ab\xe2\x82") == "\"ab\\ufffd\\ufffd\"");
  CHECK(json("\x80x") == "\"\\ufffdx\"");
  CHECK(json("\xf4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // above U+10FFFF
}
