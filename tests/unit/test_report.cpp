#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/report/html.h"
#include "test_files.h"

namespace pretext {
namespace {

using testing_files::fresh_dir;

size_t count(const std::string& text, const std::string& part) {
  size_t found = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++found;
  return found;
}

// A run folder as pretrain and evaluate leave it: per-step records, epoch events with k-NN, the
// done event, config.json, and results.json with a summary, results and a confusion matrix.
std::filesystem::path sample_run() {
  auto dir = fresh_dir("report_run");
  std::string metrics;
  for (int step = 1; step <= 20; ++step) {
    metrics += nlohmann::json{{"step", step}, {"loss", 5.0 - 0.1 * step}, {"lr", 0.01 * step},
                              {"online_linear_acc", 0.1 + 0.02 * step}, {"effective_rank", 10 + step},
                              {"std_ratio", 0.5}}.dump() + "\n";
    if (step % 10 == 0) {
      metrics += nlohmann::json{{"event", "epoch"}, {"epoch", step / 10}, {"step", step}, {"knn_top1", 0.3 * step / 10}}
                     .dump() + "\n";
    }
  }
  metrics += R"({"event":"done","step":20,"seconds":12.5,"images_per_second":410,"peak_memory_mib":900,"knn_top1":0.6,"collapsed_steps":0})" "\n";
  write_file_atomic(dir / "metrics.jsonl", metrics);
  write_file_atomic(dir / "config.json", R"({"task":"simclr","encoder":{"name":"convnet","width":8}})");
  nlohmann::json results = {
      {"task", "simclr"},
      {"class_names", {"cat <1>", "dog"}},
      {"runtime", {{"threads", 2}, {"precision", "fp32"}}},
      {"summary",
       {{{"labels", "10 per class"}, {"protocol", "knn"}, {"top1_mean", 0.7}, {"top1_std", 0.02}, {"macro_f1_mean", 0.68}},
        {{"labels", "10 per class"}, {"protocol", "scratch"}, {"top1_mean", 0.6}, {"macro_f1_mean", 0.58}},
        {{"labels", "all labels"}, {"protocol", "knn"}, {"top1_mean", 0.9}, {"macro_f1_mean", 0.89}},
        {{"labels", "all labels"}, {"protocol", "scratch"}, {"top1_mean", 0.85}, {"macro_f1_mean", 0.84}}}},
      {"embedding_2d", {{"method", "pca"}, {"explained", {0.4, 0.2}}, {"points", {{0.0, 1.0, 0}, {1.0, 0.5, 1}, {2.0, -1.0, 1}}}}},
      {"results",
       {{{"labels", "all labels"}, {"protocol", "knn"}, {"draw", 0}, {"top1", 0.9}, {"confusion_matrix", {{41, 3}, {7, 49}}}},
        {{"labels", "all labels"}, {"protocol", "scratch"}, {"draw", 0}, {"top1", 0.85}, {"confusion_matrix", {{40, 4}, {11, 45}}}}}}};
  write_file_atomic(dir / "results.json", results.dump());
  return dir;
}

TEST(Report, DrawsEveryPartTheRunFolderHolds) {
  auto dir = sample_run();
  auto path = write_html_report(dir);
  EXPECT_EQ(path, dir / "report.html");
  const std::string html = read_file(path);
  // Loss, learning rate, online evaluation, effective rank, std ratio, top-1 against labels, the
  // embeddings' map (a dot per point).
  EXPECT_EQ(count(html, "<figure class=\"chart\""), 7u);
  EXPECT_EQ(count(html, "<circle class=\"dot\""), 3u);
  EXPECT_NE(html.find("the axes hold 40.0% and 20.0% of the variance"), std::string::npos);
  EXPECT_EQ(count(html, "no data"), 0u);
  EXPECT_EQ(count(html, "data-series=\"k-NN top-1\""), 1u);
  EXPECT_EQ(count(html, "data-series=\"scratch\""), 1u);
  EXPECT_NE(html.find("<td>70.0% ± 2</td>"), std::string::npos);
  // The confusion matrix is the best protocol's (k-NN) with all labels; names are escaped.
  EXPECT_NE(html.find("Confusion matrix: knn, all labels"), std::string::npos);
  EXPECT_NE(html.find(">49</td>"), std::string::npos);
  EXPECT_NE(html.find("cat &lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("cat <1>"), std::string::npos);
  EXPECT_NE(html.find("&quot;precision&quot;: &quot;fp32&quot;"), std::string::npos);
  // Self-contained: nothing to fetch, no script.
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(Report, MissingPartsAreNotedAndAnEmptyFolderIsAnError) {
  auto dir = sample_run();
  std::filesystem::remove(dir / "results.json");
  const std::string html = read_file(write_html_report(dir));
  EXPECT_NE(html.find("No results.json"), std::string::npos);
  EXPECT_EQ(count(html, "<figure class=\"chart\""), 5u);

  auto empty = fresh_dir("report_empty");
  try {
    write_html_report(empty);
    ADD_FAILURE() << "an empty folder was accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find(empty.string()), std::string::npos) << error.what();
  }
  EXPECT_FALSE(std::filesystem::exists(empty / "report.html"));
  write_file_atomic(dir / "results.json", "{not json");
  try {
    write_html_report(dir);
    ADD_FAILURE() << "bad JSON was accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("results.json: not valid JSON"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace pretext
