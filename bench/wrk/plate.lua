-- Random seeded plates, numbered as services.seeding._seed_plate numbers them (AAA-00000, AAA-00001, ...).
-- args[1]: how many seeded plates to pick from. args[2]: what to ask.
--   (none)  scenario 3: GET /permits?license_plate=ABC-00042 (the indexed lookup, admin);
--   check   the enforcement check, GET /enforcement/check in zone CITY, each plate in a random
--           spelling (ABC-00042, abc%2000042, ABC00042) as handhelds and cameras send them.
local seeded = 1000
local mode = nil

function init(args)
  seeded = tonumber(args[1]) or seeded
  mode = args[2]
  math.randomseed(os.time() + (tid or 0))
end

local function plate(n, spelling)
  local letters, digits = math.floor(n / 100000), n % 100000
  local a, rest = math.floor(letters / 676), letters % 676
  local b, c = math.floor(rest / 26), rest % 26
  local l = string.char(65 + a % 26) .. string.char(65 + b) .. string.char(65 + c)
  local d = string.format("%05d", digits)
  if spelling == 2 then return string.lower(l) .. "%20" .. d end
  if spelling == 3 then return l .. d end
  return l .. "-" .. d
end

function request()
  local n = math.random(0, seeded - 1)
  if mode == "check" then
    return wrk.format("GET", "/enforcement/check?zone=CITY&license_plate=" ..
      plate(n, math.random(3)))
  end
  return wrk.format("GET", "/permits?license_plate=" .. plate(n, 1))
end
