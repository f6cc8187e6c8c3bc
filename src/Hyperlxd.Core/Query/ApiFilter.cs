using System.Text.Json;
using System.Text.RegularExpressions;

namespace Hyperlxd.Core.Query;

/// <summary>
/// LXD's <c>filter=</c> query language (doc/rest-api.md, "Filtering"): clauses <c>[not] field eq|ne value</c>
/// joined by <c>and</c>/<c>or</c>, evaluated left to right as LXD does. Fields are dotted paths into
/// the JSON object (<c>config.limits.cpu</c> looks up the key "limits.cpu" in the "config" map).
/// A value matches exactly, or as an anchored regular expression when it is one.
/// </summary>
public sealed class ApiFilter
{
    private sealed record Clause(bool Not, string Field, string Op, string Value, string Join);

    private readonly List<Clause> _clauses;

    private ApiFilter(List<Clause> clauses) => _clauses = clauses;

    /// <summary>Null for an empty filter; throws <see cref="BadRequestException"/> for a malformed one.</summary>
    public static ApiFilter? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        var tokens = Tokenize(text);
        var clauses = new List<Clause>();
        var i = 0;
        var join = "and";
        while (i < tokens.Count)
        {
            var not = false;
            if (tokens[i].Equals("not", StringComparison.OrdinalIgnoreCase))
            {
                not = true;
                i++;
            }
            if (i + 3 > tokens.Count)
            {
                throw new BadRequestException($"Invalid filter \"{text}\": expected \"field eq|ne value\"");
            }
            var field = tokens[i];
            var op = tokens[i + 1].ToLowerInvariant();
            if (op is not ("eq" or "ne"))
            {
                throw new BadRequestException($"Invalid filter \"{text}\": unsupported operator \"{tokens[i + 1]}\"");
            }
            clauses.Add(new Clause(not, field, op, tokens[i + 2], join));
            i += 3;
            if (i < tokens.Count)
            {
                join = tokens[i].ToLowerInvariant();
                if (join is not ("and" or "or") || i + 1 >= tokens.Count)
                {
                    throw new BadRequestException($"Invalid filter \"{text}\": expected \"and\" or \"or\" after a clause");
                }
                i++;
            }
        }
        return new ApiFilter(clauses);
    }

    private static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                i++;
                continue;
            }
            if (text[i] is '"' or '\'')
            {
                var quote = text[i];
                var end = text.IndexOf(quote, i + 1);
                if (end < 0)
                {
                    throw new BadRequestException($"Invalid filter \"{text}\": unterminated quote");
                }
                tokens.Add(text[(i + 1)..end]);
                i = end + 1;
                continue;
            }
            var start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            tokens.Add(text[start..i]);
        }
        return tokens;
    }

    public bool Matches(JsonElement obj)
    {
        var result = true;
        var first = true;
        foreach (var c in _clauses)
        {
            var value = Lookup(obj, c.Field);
            var equal = value is not null && (value == c.Value || RegexMatch(value, c.Value));
            var match = (c.Op == "eq" ? equal : !equal) ^ c.Not;
            result = first ? match : c.Join == "and" ? result && match : result || match;
            first = false;
        }
        return result;
    }

    private static bool RegexMatch(string value, string pattern)
    {
        try
        {
            return Regex.IsMatch(value, "^(?:" + pattern + ")$", RegexOptions.None, TimeSpan.FromMilliseconds(50));
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    /// <summary>Walks a dotted path; map keys may themselves contain dots, so the longest matching key wins.</summary>
    private static string? Lookup(JsonElement obj, string path)
    {
        var current = obj;
        var rest = path;
        while (rest.Length > 0)
        {
            if (current.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            JsonProperty? found = null;
            foreach (var p in current.EnumerateObject())
            {
                if ((rest == p.Name || rest.StartsWith(p.Name + ".", StringComparison.Ordinal))
                    && (found is null || p.Name.Length > found.Value.Name.Length))
                {
                    found = p;
                }
            }
            if (found is null)
            {
                return null;
            }
            current = found.Value.Value;
            rest = rest.Length == found.Value.Name.Length ? "" : rest[(found.Value.Name.Length + 1)..];
        }
        return current.ValueKind switch
        {
            JsonValueKind.String => current.GetString(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => current.GetRawText(),
        };
    }
}
