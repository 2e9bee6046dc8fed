
-- Random seeded plates in random spellings (ABC-00042, abc 00042, ABC00042), zone CITY.
local seeded = 1000
function init(args)
  seeded = tonumber(args[1]) or seeded
  math.randomseed(os.time() + (tid or 0))
end
local function plate(n)
  local letters, digits = math.floor(n / 100000), n % 100000
  local a, rest = math.floor(letters / 676), letters % 676
  local b, c = math.floor(rest / 26), rest % 26
  local l = string.char(65 + a % 26) .. string.char(65 + b) .. string.char(65 + c)
  local d = string.format("%05d", digits)
  local pick = math.random(3)
  if pick == 1 then return l .. "-" .. d end
  if pick == 2 then return string.lower(l) .. "%20" .. d end
  return l .. d
end
function request()
  return wrk.format("GET", "/enforcement/check?zone=CITY&license_plate=" ..
    plate(math.random(0, seeded - 1)))
end
