#include "model/topic_space.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/vectors.h"

namespace feedloop::model {
namespace {

constexpr uint64_t kTopicStream = 0x70b1c;

struct Theme {
  const char* name;
  const char* words[8];
};

// Topic k takes theme k mod 32; words are what a reader would associate.
constexpr Theme kThemes[] = {
    {"space", {"orbit", "telescope", "comet", "rover", "nebula", "launch", "galaxy", "eclipse"}},
    {"cooking", {"recipe", "sourdough", "braise", "spice", "noodle", "ferment", "pastry", "grill"}},
    {"football", {"derby", "striker", "penalty", "transfer", "keeper", "league", "offside", "final"}},
    {"climate", {"heatwave", "glacier", "carbon", "solar", "drought", "flood", "emission", "wind"}},
    {"music", {"album", "chorus", "vinyl", "tour", "remix", "guitar", "synth", "ballad"}},
    {"gaming", {"speedrun", "boss", "quest", "patch", "arcade", "pixel", "raid", "console"}},
    {"finance", {"stocks", "budget", "inflation", "crypto", "savings", "mortgage", "dividend", "rates"}},
    {"fitness", {"marathon", "squat", "yoga", "stretch", "cardio", "protein", "sprint", "routine"}},
    {"travel", {"backpack", "island", "itinerary", "hostel", "passport", "road-trip", "ferry", "trail"}},
    {"fashion", {"runway", "denim", "sneaker", "vintage", "tailor", "silk", "streetwear", "capsule"}},
    {"gardening", {"compost", "seedling", "orchid", "pruning", "tomato", "mulch", "bonsai", "harvest"}},
    {"politics", {"election", "senate", "ballot", "debate", "policy", "coalition", "poll", "reform"}},
    {"pets", {"puppy", "kitten", "parrot", "leash", "adoption", "groomer", "aquarium", "vet"}},
    {"science", {"genome", "quantum", "vaccine", "fossil", "neuron", "enzyme", "particle", "lab"}},
    {"film", {"trailer", "director", "sequel", "premiere", "screenplay", "cameo", "festival", "noir"}},
    {"cars", {"engine", "electric", "rally", "horsepower", "garage", "hybrid", "drift", "sedan"}},
    {"books", {"novel", "memoir", "chapter", "poetry", "library", "author", "thriller", "fable"}},
    {"art", {"canvas", "sculpture", "mural", "gallery", "sketch", "pigment", "portrait", "collage"}},
    {"coding", {"compiler", "bugfix", "refactor", "kernel", "database", "release", "linter", "thread"}},
    {"history", {"empire", "dynasty", "archive", "battle", "ruins", "treaty", "medieval", "relic"}},
    {"comedy", {"standup", "sketch-show", "punchline", "parody", "roast", "improv", "satire", "blooper"}},
    {"parenting", {"toddler", "bedtime", "lunchbox", "homework", "playdate", "nursery", "tantrum", "stroller"}},
    {"diy", {"workbench", "drill", "plywood", "upcycle", "varnish", "shelf", "soldering", "tiles"}},
    {"wildlife", {"safari", "migration", "owl", "reef", "wolf", "savanna", "nest", "whale"}},
    {"health", {"sleep", "nutrition", "therapy", "immunity", "checkup", "mindful", "posture", "hydration"}},
    {"architecture", {"facade", "skyline", "brutalist", "atrium", "blueprint", "bridge", "tower", "loft"}},
    {"beauty", {"skincare", "serum", "lipstick", "haircut", "manicure", "fragrance", "makeup", "glow"}},
    {"startups", {"founder", "pitch", "seed-round", "launch-day", "unicorn", "pivot", "growth", "demo"}},
    {"anime", {"manga", "cosplay", "shonen", "studio", "opening", "mecha", "episode", "isekai"}},
    {"weather", {"forecast", "storm", "rainbow", "frost", "humidity", "monsoon", "breeze", "thunder"}},
    {"photography", {"lens", "aperture", "darkroom", "portrait-mode", "tripod", "exposure", "film-grain", "golden-hour"}},
    {"chess", {"gambit", "endgame", "checkmate", "opening-line", "blitz", "grandmaster", "rook", "stalemate"}},
};
constexpr uint32_t kNumThemes = sizeof(kThemes) / sizeof(kThemes[0]);

}  // namespace

void DrawAround(std::span<const float> centre, double spread, Rng& rng,
                std::span<float> out) {
  const double scale = spread / std::sqrt(static_cast<double>(centre.size()));
  for (size_t d = 0; d < centre.size(); ++d) {
    out[d] = static_cast<float>(centre[d] + scale * rng.Normal());
  }
  if (!Normalize(out)) {
    // A zero draw (spread cancelling the centre exactly) is vanishingly
    // rare; fall back to the centre's direction.
    std::copy(centre.begin(), centre.end(), out.begin());
    Normalize(out);
  }
}

TopicSpace TopicSpace::FromConfig(const v1::ExperimentConfig& config) {
  return TopicSpace(config.space().dim(), config.space().topics(),
                    DeriveSeed(config.seed(), kTopicStream));
}

TopicSpace::TopicSpace(uint32_t dim, uint32_t topics, uint64_t seed)
    : dim_(dim), topics_(topics), centres_(size_t{dim} * topics) {
  Rng rng(seed);
  for (uint32_t t = 0; t < topics; ++t) {
    std::span<float> c(centres_.data() + size_t{t} * dim, dim);
    for (float& x : c) x = static_cast<float>(rng.Normal());
    Normalize(c);
  }
}

uint32_t TopicSpace::Nearest(std::span<const float> e) const {
  return NearestTwo(e).first;
}

std::pair<uint32_t, uint32_t> TopicSpace::NearestTwo(
    std::span<const float> e) const {
  uint32_t best = 0, second = 0;
  double best_ip = -2, second_ip = -2;
  for (uint32_t t = 0; t < topics_; ++t) {
    const double ip = Dot(e, Centre(t));
    if (ip > best_ip) {
      second = best;
      second_ip = best_ip;
      best = t;
      best_ip = ip;
    } else if (ip > second_ip) {
      second = t;
      second_ip = ip;
    }
  }
  if (topics_ == 1) second = best;
  return {best, second};
}

std::string TopicSpace::TopicName(uint32_t topic) const {
  const char* name = kThemes[topic % kNumThemes].name;
  if (topic < kNumThemes) return name;
  return absl::StrCat(name, "-", topic / kNumThemes + 1);
}

std::string TopicSpace::Title(std::span<const float> e, Rng& rng) const {
  const auto [first, second] = NearestTwo(e);
  const Theme& a = kThemes[first % kNumThemes];
  const Theme& b = kThemes[second % kNumThemes];
  const uint64_t i = rng.UniformInt(8);
  const uint64_t j = (i + 1 + rng.UniformInt(7)) % 8;  // a different word
  return absl::StrCat(a.words[i], " ", a.words[j], " · ",
                      b.words[rng.UniformInt(8)]);
}

}  // namespace feedloop::model
