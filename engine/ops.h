// Every differentiable op, for code that uses many of them (layers, watermarks, tests).
#pragma once
#include "engine/autograd.h"
#include "engine/ops/binary.h"
#include "engine/ops/dropout.h"
#include "engine/ops/index.h"
#include "engine/ops/loss.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "engine/ops/softmax.h"
#include "engine/ops/unary.h"
