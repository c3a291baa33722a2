// Prometheus metrics in the text exposition format (version 0.0.4), written directly: counters,
// gauges and histograms with label sets, and a writer for metrics computed at scrape time.
//
// Why not prometheus-cpp: serve and the plugin already have an HTTP server, and most of serve's
// metrics are computed from the store at scrape time (a registry of long-lived gauges would have
// to be reset and refilled on every scrape); what remains is three small thread-safe vectors.
//
// Contract: Write() emits one "# HELP" and "# TYPE" line per family, then its samples in label
// order; label values are escaped (\\, \", \n); histograms emit cumulative _bucket{le=...}
// lines ending with le="+Inf", then _sum and _count. A vector declared with Touch() labels shows
// zero-valued series before the first observation (as NVIDIA's driver pre-creates its series).
//
// Thread safety: CounterVec, GaugeVec and HistogramVec may be used from any thread.
#pragma once

#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace migdra::prometheus {

// Label name/value pairs, in the order they are printed.
using Labels = std::vector<std::pair<std::string, std::string>>;

inline std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

inline std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

// Appends text-format lines to a string.
class TextWriter {
 public:
  // Starts a family: type is "counter", "gauge" or "histogram".
  void Family(const std::string& name, const std::string& type, const std::string& help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const Labels& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out_ += ',';
        out_ += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
      }
      out_ += '}';
    }
    out_ += ' ' + FormatValue(value) + '\n';
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// Counters or gauges keyed by label values (the label names are fixed per vector).
class ValueVec {
 public:
  ValueVec(std::string name, std::string type, std::string help, std::vector<std::string> labels)
      : name_(std::move(name)),
        type_(std::move(type)),
        help_(std::move(help)),
        label_names_(std::move(labels)) {}

  void Add(const std::vector<std::string>& values, double delta) {
    std::lock_guard<std::mutex> lock(mu_);
    values_[values] += delta;
  }
  void Set(const std::vector<std::string>& values, double value) {
    std::lock_guard<std::mutex> lock(mu_);
    values_[values] = value;
  }
  void Touch(const std::vector<std::string>& values) { Add(values, 0); }

  void Write(TextWriter& w) const {
    std::lock_guard<std::mutex> lock(mu_);
    w.Family(name_, type_, help_);
    for (const auto& [values, v] : values_) w.Sample(name_, Zip(values), v);
  }

 private:
  Labels Zip(const std::vector<std::string>& values) const {
    Labels out;
    for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
      out.emplace_back(label_names_[i], values[i]);
    }
    return out;
  }

  std::string name_, type_, help_;
  std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, double> values_;
};

class CounterVec : public ValueVec {
 public:
  CounterVec(std::string name, std::string help, std::vector<std::string> labels)
      : ValueVec(std::move(name), "counter", std::move(help), std::move(labels)) {}
  void Inc(const std::vector<std::string>& values) { Add(values, 1); }
};

class GaugeVec : public ValueVec {
 public:
  GaugeVec(std::string name, std::string help, std::vector<std::string> labels)
      : ValueVec(std::move(name), "gauge", std::move(help), std::move(labels)) {}
};

// Buckets start, start*factor, ... (count of them), as client_golang's ExponentialBuckets.
inline std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor) out.push_back(start);
  return out;
}

class HistogramVec {
 public:
  HistogramVec(std::string name, std::string help, std::vector<std::string> labels,
               std::vector<double> buckets)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(labels)),
        bounds_(std::move(buckets)) {}

  void Observe(const std::vector<std::string>& values, double x) {
    std::lock_guard<std::mutex> lock(mu_);
    Series& s = Get(values);
    for (size_t i = 0; i < bounds_.size(); ++i) {
      if (x <= bounds_[i]) ++s.counts[i];
    }
    s.sum += x;
    ++s.count;
  }
  void Touch(const std::vector<std::string>& values) {
    std::lock_guard<std::mutex> lock(mu_);
    Get(values);
  }

  void Write(TextWriter& w) const {
    std::lock_guard<std::mutex> lock(mu_);
    w.Family(name_, "histogram", help_);
    for (const auto& [values, s] : series_) {
      Labels labels;
      for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
        labels.emplace_back(label_names_[i], values[i]);
      }
      for (size_t i = 0; i <= bounds_.size(); ++i) {
        Labels with_le = labels;
        with_le.emplace_back("le", i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf");
        w.Sample(name_ + "_bucket", with_le,
                 static_cast<double>(i < bounds_.size() ? s.counts[i] : s.count));
      }
      w.Sample(name_ + "_sum", labels, s.sum);
      w.Sample(name_ + "_count", labels, static_cast<double>(s.count));
    }
  }

 private:
  struct Series {
    std::vector<unsigned long long> counts;
    double sum = 0;
    unsigned long long count = 0;
  };
  Series& Get(const std::vector<std::string>& values) {
    Series& s = series_[values];
    if (s.counts.empty()) s.counts.assign(bounds_.size(), 0);
    return s;
  }

  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Series> series_;
};

}  // namespace migdra::prometheus
