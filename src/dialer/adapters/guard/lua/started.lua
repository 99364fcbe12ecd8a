-- ARGV[12] calls were handed to the senders: they spend the pacing's tokens.
tokens = math.max(0, tokens - tonumber(ARGV[12]))
save()
return answer(0)
