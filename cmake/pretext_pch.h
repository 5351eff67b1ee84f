// Precompiled header: the torch API is the slow part of every translation unit here.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>
#include <memory>
#include <functional>
#include <filesystem>
