#include "pretext/report/html.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/jsonl.h"

namespace pretext {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Colour-blind-safe palette (Okabe & Ito 2008).
const char* const kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double value, int digits = 3) {
  if (!std::isfinite(value)) return "–";
  char text[64];
  if (std::abs(value) >= 1000 && std::abs(value) < 1e9) {
    std::snprintf(text, sizeof(text), "%.0f", value);  // steps, seconds: whole numbers read best
  } else {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
  }
  return text;
}

std::string percent(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", 100 * value);
  return text;
}

struct Series {
  std::string name;
  std::vector<double> x, y;
};

// A line chart as inline SVG: axes with 5 ticks each, one polyline per series, a legend. Points
// that are not finite are dropped. `categories` (optional) labels integer x positions 0..n−1.
std::string line_chart(const std::string& title, const std::vector<Series>& series, const std::string& x_label,
                       const std::string& y_label, const std::vector<std::string>& categories = {}) {
  constexpr double kWidth = 660, kHeight = 300, kLeft = 80, kRight = 150, kTop = 30, kBottom = 45;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const auto& s : series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  }
  std::ostringstream svg;
  svg << "<figure class=\"chart\" data-chart=\"" << escape(title) << "\"><svg viewBox=\"0 0 " << kWidth << " "
      << kHeight << "\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" role=\"img\" aria-label=\""
      << escape(title) << "\">";
  svg << "<text x=\"" << kLeft << "\" y=\"18\" class=\"title\">" << escape(title) << "</text>";
  if (!std::isfinite(x_min)) {
    svg << "<text x=\"" << kLeft << "\" y=\"" << kHeight / 2 << "\">no data</text></svg></figure>\n";
    return svg.str();
  }
  if (!categories.empty()) {  // categories sit at 0..n−1, half a step in from the edges
    x_min = -0.5;
    x_max = static_cast<double>(categories.size()) - 0.5;
  }
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) {
    y_max += std::max(1e-9, std::abs(y_max) * 0.05);
    y_min -= std::max(1e-9, std::abs(y_min) * 0.05);
  }
  const double plot_width = kWidth - kLeft - kRight, plot_height = kHeight - kTop - kBottom;
  // Enough significant digits that the five y ticks read differently.
  const double magnitude = std::max(std::abs(y_min), std::abs(y_max));
  const int y_digits =
      std::clamp(static_cast<int>(std::ceil(std::log10(magnitude / ((y_max - y_min) / 4)))) + 1, 3, 8);
  auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * plot_width; };
  auto py = [&](double y) { return kTop + (1 - (y - y_min) / (y_max - y_min)) * plot_height; };
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_width << "\" height=\"" << plot_height
      << "\" class=\"frame\"/>";
  for (int tick = 0; tick <= 4; ++tick) {
    const double y = y_min + (y_max - y_min) * tick / 4;
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_width << "\" y1=\"" << py(y) << "\" y2=\"" << py(y)
        << "\" class=\"grid\"/><text x=\"" << kLeft - 6 << "\" y=\"" << py(y) + 4 << "\" class=\"tick\" "
        << "text-anchor=\"end\">" << number(y, y_digits) << "</text>";
  }
  if (!categories.empty()) {
    for (size_t i = 0; i < categories.size(); ++i) {
      svg << "<text x=\"" << px(static_cast<double>(i)) << "\" y=\"" << kTop + plot_height + 16
          << "\" class=\"tick\" text-anchor=\"middle\">" << escape(categories[i]) << "</text>";
    }
  } else {
    for (int tick = 0; tick <= 4; ++tick) {
      const double x = x_min + (x_max - x_min) * tick / 4;
      svg << "<text x=\"" << px(x) << "\" y=\"" << kTop + plot_height + 16 << "\" class=\"tick\" "
          << "text-anchor=\"middle\">" << number(x) << "</text>";
    }
  }
  svg << "<text x=\"" << kLeft + plot_width / 2 << "\" y=\"" << kHeight - 8 << "\" text-anchor=\"middle\">"
      << escape(x_label) << "</text>";
  svg << "<text x=\"14\" y=\"" << kTop + plot_height / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
      << kTop + plot_height / 2 << ")\">" << escape(y_label) << "</text>";
  for (size_t k = 0; k < series.size(); ++k) {
    const std::string colour = kColours[k % (sizeof(kColours) / sizeof(kColours[0]))];
    std::ostringstream points;
    size_t count = 0;
    for (size_t i = 0; i < series[k].x.size(); ++i) {
      if (!std::isfinite(series[k].x[i]) || !std::isfinite(series[k].y[i])) continue;
      points << px(series[k].x[i]) << "," << py(series[k].y[i]) << " ";
      ++count;
    }
    svg << "<polyline class=\"series\" data-series=\"" << escape(series[k].name) << "\" fill=\"none\" stroke=\""
        << colour << "\" stroke-width=\"2\" points=\"" << points.str() << "\"/>";
    if (count <= 12) {  // few points: mark each
      for (size_t i = 0; i < series[k].x.size(); ++i) {
        if (!std::isfinite(series[k].x[i]) || !std::isfinite(series[k].y[i])) continue;
        svg << "<circle cx=\"" << px(series[k].x[i]) << "\" cy=\"" << py(series[k].y[i]) << "\" r=\"3.5\" fill=\""
            << colour << "\"/>";
      }
    }
    const double legend_y = kTop + 14 + 18 * static_cast<double>(k);
    svg << "<line x1=\"" << kWidth - kRight + 12 << "\" x2=\"" << kWidth - kRight + 32 << "\" y1=\"" << legend_y - 4
        << "\" y2=\"" << legend_y - 4 << "\" stroke=\"" << colour << "\" stroke-width=\"3\"/><text x=\""
        << kWidth - kRight + 38 << "\" y=\"" << legend_y << "\">" << escape(series[k].name) << "</text>";
  }
  svg << "</svg></figure>\n";
  return svg.str();
}

// The test set's 2-D map (results.json's embedding_2d): one dot per sample, coloured by class.
std::string scatter_chart(const json& map, const json& class_names) {
  constexpr double kSide = 480, kMargin = 20, kLegend = 170;
  const json& points = map["points"];
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const auto& p : points) {
    x_min = std::min(x_min, p[0].get<double>());
    x_max = std::max(x_max, p[0].get<double>());
    y_min = std::min(y_min, p[1].get<double>());
    y_max = std::max(y_max, p[1].get<double>());
  }
  if (!(x_max > x_min) || !(y_max > y_min)) return "";
  auto px = [&](double x) { return kMargin + (x - x_min) / (x_max - x_min) * (kSide - 2 * kMargin); };
  auto py = [&](double y) { return kMargin + (1 - (y - y_min) / (y_max - y_min)) * (kSide - 2 * kMargin); };
  const size_t palette = sizeof(kColours) / sizeof(kColours[0]);
  const std::vector<std::string> extra{"#999999", "#8C564B", "#BCBD22"};  // classes 8–10
  auto colour = [&](int64_t label) {
    if (label < 0) return std::string("#bbbbbb");
    const auto index = static_cast<size_t>(label) % (palette + extra.size());
    return index < palette ? std::string(kColours[index]) : extra[index - palette];
  };
  const auto explained = map.value("explained", json::array({0.0, 0.0}));
  std::ostringstream svg;
  const std::string title = "Test-set embeddings (PCA of the frozen features)";
  svg << "<figure class=\"chart\" data-chart=\"" << title << "\"><svg viewBox=\"0 0 " << kSide + kLegend << " "
      << kSide << "\" width=\"" << kSide + kLegend << "\" height=\"" << kSide << "\" role=\"img\" aria-label=\""
      << title << "\"><rect x=\"" << kMargin << "\" y=\"" << kMargin << "\" width=\"" << kSide - 2 * kMargin
      << "\" height=\"" << kSide - 2 * kMargin << "\" class=\"frame\"/>";
  for (const auto& p : points) {
    svg << "<circle class=\"dot\" cx=\"" << number(px(p[0].get<double>()), 4) << "\" cy=\""
        << number(py(p[1].get<double>()), 4) << "\" r=\"2.2\" fill=\"" << colour(p[2].get<int64_t>()) << "\"/>";
  }
  for (size_t k = 0; k < class_names.size() && k < 20; ++k) {
    const double y = kMargin + 10 + 17 * static_cast<double>(k);
    svg << "<circle cx=\"" << kSide + 8 << "\" cy=\"" << y - 4 << "\" r=\"5\" fill=\""
        << colour(static_cast<int64_t>(k)) << "\"/><text x=\"" << kSide + 18 << "\" y=\"" << y << "\">"
        << escape(class_names[k].get<std::string>()) << "</text>";
  }
  svg << "</svg><figcaption>" << escape(title) << ": " << points.size() << " test samples; the axes hold "
      << percent(explained[0].get<double>()) << " and " << percent(explained[1].get<double>())
      << " of the variance.</figcaption></figure>\n";
  return svg.str();
}

json read_json_file(const fs::path& path) {
  json value = json::parse(read_file(path), nullptr, false);
  PRETEXT_CHECK(!value.is_discarded(), InputError, path.string(), ": not valid JSON");
  return value;
}

// Step series of every numeric field of the per-step records.
std::map<std::string, Series> step_series(const std::vector<json>& records) {
  std::map<std::string, Series> out;
  for (const auto& record : records) {
    if (record.contains("event") || !record.contains("step")) continue;
    const double step = record["step"].get<double>();
    for (const auto& [key, value] : record.items()) {
      if (!value.is_number() || key == "step") continue;
      auto& s = out[key];
      s.name = key;
      s.x.push_back(step);
      s.y.push_back(value.get<double>());
    }
  }
  return out;
}

std::string training_section(const std::vector<json>& records) {
  std::ostringstream html;
  auto steps = step_series(records);
  auto pick = [&](const std::string& key, const std::string& name) {
    Series s = steps.count(key) ? steps[key] : Series{};
    s.name = name;
    return s;
  };
  html << "<h2>Pretraining</h2>\n";
  html << line_chart("Loss", {pick("loss", "loss")}, "step", "loss");
  html << line_chart("Learning rate", {pick("lr", "learning rate")}, "step", "learning rate");
  // Online evaluation: the linear probe per logged step, k-NN at epoch ends.
  Series knn{"k-NN top-1", {}, {}};
  for (const auto& record : records) {
    const std::string event = record.value("event", "");
    if ((event == "epoch" || event == "final") && record.contains("knn_top1") && record["knn_top1"].is_number()) {
      knn.x.push_back(record["step"].get<double>());
      knn.y.push_back(record["knn_top1"].get<double>());
    }
  }
  std::vector<Series> online;
  if (steps.count("online_linear_acc")) online.push_back(pick("online_linear_acc", "online linear probe"));
  if (!knn.x.empty()) online.push_back(knn);
  if (!online.empty()) html << line_chart("Online evaluation", online, "step", "accuracy");
  std::vector<Series> health;
  if (steps.count("effective_rank")) health.push_back(pick("effective_rank", "effective rank"));
  if (!health.empty()) html << line_chart("Representation health: effective rank", health, "step", "effective rank");
  if (steps.count("std_ratio")) {
    html << line_chart("Representation health: feature std ratio", {pick("std_ratio", "std ratio")}, "step",
                       "std / (1/√d)");
  }
  for (const auto& record : records) {
    if (record.value("event", "") == "done") {
      html << "<p class=\"done\">" << number(record.value("step", 0.0), 9) << " steps in "
           << number(record.value("seconds", 0.0), 4) << " s, " << number(record.value("images_per_second", 0.0), 4)
           << " samples/s, peak memory " << number(record.value("peak_memory_mib", 0.0), 5) << " MiB; collapsed steps "
           << number(record.value("collapsed_steps", 0.0), 9) << ".</p>\n";
    }
  }
  return html.str();
}

std::string results_section(const json& results) {
  std::ostringstream html;
  html << "<h2>Few labels: self-supervised against from scratch</h2>\n";
  const json summary = results.value("summary", json::array());
  std::vector<std::string> budgets, protocols;
  std::map<std::pair<std::string, std::string>, std::pair<double, double>> top1, f1;  // (budget, protocol) → mean, std
  for (const auto& row : summary) {
    const std::string budget = row.value("labels", ""), protocol = row.value("protocol", "");
    if (std::find(budgets.begin(), budgets.end(), budget) == budgets.end()) budgets.push_back(budget);
    if (std::find(protocols.begin(), protocols.end(), protocol) == protocols.end()) protocols.push_back(protocol);
    top1[{budget, protocol}] = {row.value("top1_mean", NAN), row.value("top1_std", 0.0)};
    f1[{budget, protocol}] = {row.value("macro_f1_mean", NAN), row.value("macro_f1_std", 0.0)};
  }
  html << "<table class=\"results\"><tr><th>labels</th>";
  for (const auto& protocol : protocols) html << "<th>" << escape(protocol) << " top-1</th>";
  for (const auto& protocol : protocols) html << "<th>" << escape(protocol) << " macro-F1</th>";
  html << "</tr>\n";
  for (const auto& budget : budgets) {
    html << "<tr><td>" << escape(budget) << "</td>";
    for (const auto* table : {&top1, &f1}) {
      for (const auto& protocol : protocols) {
        auto found = table->find({budget, protocol});
        html << "<td>";
        if (found != table->end()) {
          html << percent(found->second.first);
          if (found->second.second > 0) html << " ± " << number(100 * found->second.second, 2);
        }
        html << "</td>";
      }
    }
    html << "</tr>\n";
  }
  html << "</table>\n";
  std::vector<Series> chart;
  for (const auto& protocol : protocols) {
    Series s{protocol, {}, {}};
    for (size_t i = 0; i < budgets.size(); ++i) {
      auto found = top1.find({budgets[i], protocol});
      s.x.push_back(static_cast<double>(i));
      s.y.push_back(found != top1.end() ? found->second.first : NAN);
    }
    chart.push_back(s);
  }
  html << line_chart("Top-1 against labels (mean over draws)", chart, "labels", "top-1", budgets);

  // Confusion matrix: the best protocol's with the largest budget (the last one listed), draw 0.
  const json rows = results.value("results", json::array());
  const json* best = nullptr;
  if (!budgets.empty()) {
    for (const auto& row : rows) {
      if (row.value("labels", "") != budgets.back() || row.value("draw", 0) != 0 || !row.contains("confusion_matrix")) {
        continue;
      }
      if (best == nullptr || row.value("top1", 0.0) > best->value("top1", 0.0)) best = &row;
    }
  }
  if (best != nullptr) {
    const json classes = results.value("class_names", json::array());
    const json& matrix = (*best)["confusion_matrix"];
    double largest = 1;
    for (const auto& line : matrix) {
      for (const auto& cell : line) largest = std::max(largest, cell.get<double>());
    }
    html << "<h3>Confusion matrix: " << escape(best->value("protocol", "")) << ", " << escape(budgets.back())
         << " (rows: true class, columns: predicted)</h3>\n<table class=\"confusion\"><tr><th></th>";
    for (const auto& name : classes) html << "<th>" << escape(name.get<std::string>()) << "</th>";
    html << "</tr>\n";
    for (size_t i = 0; i < matrix.size(); ++i) {
      html << "<tr><th>" << (i < classes.size() ? escape(classes[i].get<std::string>()) : std::to_string(i)) << "</th>";
      for (const auto& cell : matrix[i]) {
        const double share = cell.get<double>() / largest;
        html << "<td style=\"background: rgba(0,114,178," << number(share, 2) << ");"
             << (share > 0.55 ? "color:#fff" : "") << "\">" << cell.get<int64_t>() << "</td>";
      }
      html << "</tr>\n";
    }
    html << "</table>\n";
  }
  if (results.contains("embedding_2d") && results["embedding_2d"].is_object()) {
    html << scatter_chart(results["embedding_2d"], results.value("class_names", json::array()));
  }
  return html.str();
}

std::string json_block(const std::string& title, const json& value) {
  return "<h2>" + escape(title) + "</h2>\n<pre>" + escape(value.dump(2)) + "</pre>\n";
}

}  // namespace

fs::path write_html_report(const fs::path& run_dir) {
  PRETEXT_CHECK(fs::is_directory(run_dir), InputError, "pretext report: no such run folder: ", run_dir.string());
  const fs::path metrics_path = run_dir / "metrics.jsonl";
  fs::path results_path = run_dir / "results.json";
  if (!fs::exists(results_path) && fs::exists(run_dir / "eval" / "results.json")) results_path = run_dir / "eval" / "results.json";
  const bool has_metrics = fs::exists(metrics_path), has_results = fs::exists(results_path);
  PRETEXT_CHECK(has_metrics || has_results, InputError, run_dir.string(),
                ": neither metrics.jsonl (pretext pretrain) nor results.json (pretext evaluate) is here");
  const json config = fs::exists(run_dir / "config.json") ? read_json_file(run_dir / "config.json") : json::object();
  const json results = has_results ? read_json_file(results_path) : json::object();

  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pretext report: "
       << escape(run_dir.filename().string()) << "</title>\n<style>\n"
       << "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}\n"
       << "h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\n"
       << "figure.chart{margin:1em 0}svg text{font-size:12px;fill:#333}svg .title{font-size:14px;font-weight:600}\n"
       << "svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}svg .tick{font-size:11px;fill:#666}\n"
       << "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\n"
       << "pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}.note{color:#777}\n"
       << "</style></head><body>\n";
  const std::string task = config.value("task", results.value("task", std::string("?")));
  std::string encoder = "?";
  if (config.contains("encoder") && config["encoder"].is_object()) encoder = config["encoder"].value("name", "?");
  else if (results.contains("encoder") && results["encoder"].is_string()) encoder = results["encoder"].get<std::string>();
  html << "<h1>pretext report: " << escape(task) << " on " << escape(encoder) << "</h1>\n<p>Run folder "
       << escape(run_dir.string()) << ".</p>\n";
  if (has_metrics) {
    html << training_section(read_json_lines(metrics_path));
  } else {
    html << "<p class=\"note\">No metrics.jsonl: this folder holds no pretraining run.</p>\n";
  }
  if (has_results) {
    html << results_section(results);
  } else {
    html << "<p class=\"note\">No results.json: run <code>pretext evaluate --checkpoint " << escape(run_dir.string())
         << "/last.pt</code> for the few-label results.</p>\n";
  }
  if (results.contains("runtime")) html << json_block("Environment", results["runtime"]);
  if (!config.empty()) html << json_block("Configuration", config);
  html << "</body></html>\n";
  const fs::path out = run_dir / "report.html";
  write_file_atomic(out, html.str());
  return out;
}

}  // namespace pretext
