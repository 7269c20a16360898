#include "model/consumption.h"

namespace feedloop::model {

std::vector<v1::Interaction> InteractionsOf(std::span<const v1::Slate> slates,
                                            std::span<const Consumption> consumption) {
  std::vector<v1::Interaction> out;
  for (size_t i = 0; i < slates.size() && i < consumption.size(); ++i) {
    const Consumption& c = consumption[i];
    for (size_t k = 0; k < c.positions.size(); ++k) {
      v1::Interaction& x = out.emplace_back();
      x.set_user_id(slates[i].user_id());
      x.set_position(c.positions[k]);
      x.set_item_id(slates[i].item_ids(static_cast<int>(c.positions[k])));
      x.set_engaged(c.engaged[k]);
    }
  }
  return out;
}

}  // namespace feedloop::model
