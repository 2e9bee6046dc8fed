-- Scenario 3: GET /permits?license_plate=... for random seeded plates (the indexed lookup).
-- args[1] is how many permits were seeded; plates are numbered as services.permits._seed_plate.
local seeded = 1000

function init(args)
  seeded = tonumber(args[1]) or seeded
  math.randomseed(os.time() + (tid or 0))
end

local function plate(n)
  local letters, digits = math.floor(n / 100000), n % 100000
  local a, rest = math.floor(letters / 676), letters % 676
  local b, c = math.floor(rest / 26), rest % 26
  return string.format("%s%s%s-%05d", string.char(65 + a % 26), string.char(65 + b),
    string.char(65 + c), digits)
end

function request()
  return wrk.format("GET", "/permits?license_plate=" .. plate(math.random(0, seeded - 1)))
end
