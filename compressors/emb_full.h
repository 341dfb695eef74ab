// Full: the uncompressed CTR embedding table, one trainable row of D floats per logical
// row (the reference every compressed table is measured against).
//
//   lookup(id)    = W[id]                      W: N x D
//   backward      grad W[id] += dL/dout
//   bytes()       = 4 N D                      (budget_actual = 1)
#pragma once

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

class FullTable final : public EmbeddingTable {
 public:
  explicit FullTable(const TableInit& init);
  std::string spec() const override { return "Full"; }
  std::string knob() const override { return ""; }
  int64_t rows() const override { return w_.rows(); }
  int dim() const override { return w_.width(); }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override { w_.step(opt_); }
  int64_t bytes() const override { return w_.bytes(); }
  int64_t optimizer_bytes() const override {
    return RowParams::optimizer_bytes(w_.rows(), w_.width(), opt_);
  }
  std::vector<std::pair<void*, size_t>> buffers() override {
    return {{w_.data(), static_cast<size_t>(w_.bytes())}};
  }
  const RowParams& params() const { return w_; }

 private:
  RowParams w_;
  OptimizerConfig opt_;
};

/// Throws kBadInput naming the id when it is outside [0, rows).
void check_table_ids(const int64_t* ids, int64_t n, int64_t rows);

}  // namespace embcomp::ctr
