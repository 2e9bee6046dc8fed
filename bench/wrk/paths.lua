-- Scenario 4 (and any fixed set of URLs): GET one of the paths listed in the file args[1].
local paths = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  i = math.random(1, #paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
