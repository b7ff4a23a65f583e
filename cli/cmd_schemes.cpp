// signet schemes: the registered watermark schemes, what each can be verified with, its null
// hypothesis and its options (the flags of `signet embed`, the keys of a config's [[schemes]]).
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/scheme_flags.h"

namespace signet::cli {

void register_schemes(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* c = app.add_subcommand("schemes", "List the watermark schemes with their capabilities and options");
  c->add_flag("--json", *json, "print one JSON object on stdout");
  c->callback([json] {
    nlohmann::json out = nlohmann::json::array();
    for (const Scheme* s : all_schemes()) {
      const SchemeInfo& i = s->info();
      nlohmann::json opts = nlohmann::json::array();
      for (const SchemeOption& o : s->options()) {
        const char* type = o.type == SchemeOption::Type::Integer ? "integer"
                           : o.type == SchemeOption::Type::Real  ? "number"
                                                                 : "text";
        nlohmann::json j = {{"name", o.name}, {"flag", flag_name(o.name)}, {"type", type},
                            {"default", o.default_value}, {"help", o.help}};
        if (o.type != SchemeOption::Type::Text) j["range"] = {o.min, o.max};
        if (!o.choices.empty()) j["choices"] = o.choices;
        opts.push_back(j);
      }
      out.push_back({{"name", i.name}, {"summary", i.summary}, {"paper", i.paper}, {"white_box", i.white_box},
                     {"black_box", i.black_box}, {"from_scratch", i.from_scratch},
                     {"fine_tunes_trained_model", true}, {"metric", i.metric}, {"size_option", i.size_option},
                     {"null_hypothesis", i.null_hypothesis}, {"default_alpha", i.default_alpha},
                     {"aligned_extraction", s->can_align()}, {"options", opts}});
    }
    if (*json) {
      print_json({{"command", "schemes"}, {"schemes", out}});
      return;
    }
    for (const auto& s : out) {
      std::string caps;
      if (s["white_box"].get<bool>()) caps += "white-box (signet extract)";
      if (s["black_box"].get<bool>()) caps += std::string(caps.empty() ? "" : ", ") + "black-box (signet verify)";
      std::printf("%s: %s\n  %s\n  verification: %s; embeds %s\n  null hypothesis: %s; default alpha %g\n  options:\n",
                  s["name"].get<std::string>().c_str(), s["summary"].get<std::string>().c_str(),
                  s["paper"].get<std::string>().c_str(), caps.c_str(),
                  s["from_scratch"].get<bool>() ? "from scratch or by fine-tuning (--from)"
                                                : "by fine-tuning a trained model (--from)",
                  s["null_hypothesis"].get<std::string>().c_str(), s["default_alpha"].get<double>());
      for (const auto& o : s["options"]) {
        const std::string def = o["default"].get<std::string>();
        std::printf("    %-22s %s%s\n", o["flag"].get<std::string>().c_str(), o["help"].get<std::string>().c_str(),
                    def.empty() ? "" : (" [" + def + "]").c_str());
      }
    }
  });
}

}  // namespace signet::cli
