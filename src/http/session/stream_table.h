#pragma once
// The open streams of one HTTP/2 connection, by stream id. Every codec
// callback of a header block, a DATA frame or a stream end looks its stream
// up, mostly the same stream several times in a row (each field of a header
// block is one callback): the last stream found is remembered, so those
// lookups cost a compare instead of a hash-table probe.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>

namespace weft::http {

template <typename Stream>
class StreamTable {
 public:
  using Map = std::unordered_map<int32_t, std::shared_ptr<Stream>>;

  Stream* find(int32_t id) {
    if (last_ && id == lastId_) return last_;
    auto it = map_.find(id);
    if (it == map_.end()) return nullptr;
    remember(id, it->second.get());
    return last_;
  }
  std::shared_ptr<Stream> shared(int32_t id) const {
    auto it = map_.find(id);
    return it == map_.end() ? nullptr : it->second;
  }
  void put(int32_t id, std::shared_ptr<Stream> s) {
    remember(id, s.get());
    map_[id] = std::move(s);
  }
  // Removes the stream and returns it (null if it was not open).
  std::shared_ptr<Stream> take(int32_t id) {
    if (id == lastId_) last_ = nullptr;
    auto node = map_.extract(id);
    return node ? std::move(node.mapped()) : nullptr;
  }
  // Empties the table, handing over every stream.
  Map takeAll() {
    last_ = nullptr;
    return std::exchange(map_, Map{});
  }

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  const Map& all() const { return map_; }

 private:
  void remember(int32_t id, Stream* s) {
    lastId_ = id;
    last_ = s;
  }

  Map map_;
  int32_t lastId_ = 0;
  Stream* last_ = nullptr;  // map_[lastId_], or null: nothing remembered
};

}  // namespace weft::http
