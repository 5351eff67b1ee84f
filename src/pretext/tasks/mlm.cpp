#include "pretext/tasks/mlm.h"

#include "pretext/core/options.h"

namespace pretext {

MLMOptions MLMOptions::from_json(const nlohmann::json& values, bool next_sentence) {
  MLMOptions options;
  options.next_sentence = next_sentence;
  const std::string where = next_sentence ? "task mlm-nsp" : "task mlm";
  OptionReader reader(values, where);
  reader.read("mask_probability", options.masking.mask_probability)
      .read("mask_token", options.masking.mask_token)
      .read("random_token", options.masking.random_token);
  if (next_sentence) reader.read("next_probability", options.pairs.next_probability);
  reader.finish();
  try {
    options.masking.validate();
    options.pairs.validate();
  } catch (const ConfigError& error) {
    throw ConfigError(where + ": " + error.what());
  }
  return options;
}

nlohmann::json MLMOptions::to_json() const {
  nlohmann::json out = masking.to_json();
  if (next_sentence) out["next_probability"] = pairs.next_probability;
  return out;
}

std::pair<torch::Tensor, torch::Tensor> masked_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  PRETEXT_CHECK(logits.dim() == labels.dim() + 1 && logits.sizes().slice(0, labels.dim()) == labels.sizes(),
                ConfigError, "masked-LM loss: logits ", logits.sizes(), " do not match labels ", labels.sizes());
  auto flat_logits = logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32);
  auto flat_labels = labels.reshape({-1});
  auto loss = torch::nn::functional::cross_entropy(
      flat_logits, flat_labels, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel));
  auto scored = flat_labels.ne(kIgnoreLabel);
  auto correct = flat_logits.argmax(1).eq(flat_labels).logical_and(scored);
  auto accuracy = correct.sum().to(torch::kFloat32) / scored.sum().clamp_min(1).to(torch::kFloat32);
  return {loss, accuracy.detach()};
}

std::pair<torch::Tensor, torch::Tensor> next_sentence_loss(const torch::Tensor& logits, const torch::Tensor& is_next) {
  PRETEXT_CHECK(logits.dim() == 2 && logits.size(1) == 2 && is_next.dim() == 1 && is_next.size(0) == logits.size(0),
                ConfigError, "next-sentence loss: logits must be [B, 2] and is_next [B], got ", logits.sizes(), " and ",
                is_next.sizes());
  auto flat_logits = logits.to(torch::kFloat32);
  auto loss = torch::nn::functional::cross_entropy(flat_logits, is_next);
  auto accuracy = flat_logits.argmax(1).eq(is_next).to(torch::kFloat32).mean();
  return {loss, accuracy.detach()};
}

MLMTask::MLMTask(const TaskContext& context, MLMOptions options)
    : PretextTask(options.next_sentence ? "MLMNSPTask" : "MLMTask", context.seed), options_(std::move(options)) {
  const char* name = options_.next_sentence ? "mlm-nsp" : "mlm";
  PRETEXT_CHECK(is_bert_name(context.encoder.name), ConfigError, "task ", name,
                " needs a BERT encoder (--encoder bert-tiny, bert-mini or bert-small), got '", context.encoder.name,
                "'");
  encoder_ = std::dynamic_pointer_cast<BertEncoder>(make_encoder(context.encoder));
  PRETEXT_CHECK(encoder_ != nullptr, ConfigError, "task ", name, ": encoder '", context.encoder.name,
                "' is registered but is not a BertEncoder");
  register_module("encoder", encoder_);
  const BertArchitecture& architecture = encoder_->architecture();
  mlm_head_ =
      register_module("mlm_head", MaskedLMHead(architecture.dim, encoder_->vocab_size(), architecture.norm_eps));
  if (options_.next_sentence) nsp_head_ = register_module("nsp_head", NextSentenceHead(architecture.dim));
}

PretextTask::Output MLMTask::step(const Batch& batch) {
  FormattedText text = options_.next_sentence
                           ? make_sentence_pairs(batch, encoder_->max_length(), options_.pairs, generator())
                           : format_single(batch, encoder_->max_length());
  MaskedTokens masked = mask_tokens(text.ids, encoder_->vocab_size(), options_.masking, generator());
  auto hidden = encoder_->forward_tokens(masked.ids, text.segments);  // [B, T, dim]
  const int64_t dim = hidden.size(2);

  // The vocabulary-sized decoder runs on the chosen positions only (BERT's gather of
  // masked_lm_positions): 15% of the work, and the loss never sees the others anyway.
  auto labels = masked.labels.reshape({-1});
  auto chosen = labels.ne(kIgnoreLabel).nonzero().squeeze(1);
  Output out;
  auto cls = hidden.select(1, 0);
  if (chosen.numel() > 0) {
    auto logits =
        mlm_head_->forward(hidden.reshape({-1, dim}).index_select(0, chosen), encoder_->token_embedding_weight());
    auto [loss, accuracy] = masked_lm_loss(logits, labels.index_select(0, chosen));
    out.loss = loss;
    out.stats = {{"mlm_loss", loss.item<double>()}, {"mlm_accuracy", accuracy.item<double>()}};
  } else {
    // Every window was empty or special tokens only: nothing to predict, and a zero loss (with a
    // graph) rather than the NaN of an empty mean, so that one odd batch does not stop a run.
    out.loss = hidden.sum().to(torch::kFloat32) * 0.0;
  }
  if (options_.next_sentence) {
    auto [loss, accuracy] = next_sentence_loss(nsp_head_->forward(cls), text.is_next);
    out.loss = out.loss + loss;
    out.stats.emplace_back("nsp_loss", loss.item<double>());
    out.stats.emplace_back("nsp_accuracy", accuracy.item<double>());
  }
  out.embedding = encoder_->pool(hidden, masked.ids).detach().to(torch::kFloat32);  // what forward() returns
  return out;
}

}  // namespace pretext
