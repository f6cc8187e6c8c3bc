using System.Globalization;
using System.Text;

namespace Hyperlxd.Instances.Templates;

/// <summary>A template that cannot be parsed or rendered; the message says where.</summary>
public sealed class TemplateException(string message) : Exception(message);

/// <summary>
/// The subset of pongo2 (Django syntax) that image templates use, rendered as LXD renders them (autoescape
/// off): <c>{{ expr|filter:arg }}</c>, <c>{% if %}/{% elif %}/{% else %}/{% endif %}</c>,
/// <c>{% for x in seq %}</c> / <c>{% for k, v in map %}</c> (with <c>forloop</c>, <c>{% empty %}</c>),
/// <c>{# comments #}</c> and <c>{%- -%}</c> trimming. Nothing here reads files or runs code: includes,
/// macros and the rest of pongo2's tags are refused. Values are strings, longs, bools, lists, string-keyed
/// maps, times (<see cref="DateTimeOffset"/>, with the <c>date</c> filter) or <see cref="TemplateFunction"/>s. The output is bounded.
/// </summary>
public static partial class Pongo
{
    public const int MaxOutput = 4 << 20;

    public static string Render(string template, IReadOnlyDictionary<string, object?> context)
    {
        var nodes = new Parser(Lexer.Tokens(template)).ParseAll();
        var scope = new Scope(context);
        var sb = new StringBuilder();
        Exec(nodes, scope, sb);
        return sb.ToString();
    }

    // ---- Lexing: text and the three kinds of tags --------------------------------------------------

    private enum TokKind { Text, Var, Tag }

    private sealed record Tok(TokKind Kind, string Body, int Line);

    private static class Lexer
    {
        public static List<Tok> Tokens(string s)
        {
            var list = new List<Tok>();
            var i = 0;
            var trimNext = false;
            while (i < s.Length)
            {
                var open = IndexOfOpen(s, i);
                var text = open < 0 ? s[i..] : s[i..open];
                if (trimNext)
                {
                    text = text.TrimStart();
                }
                if (open >= 0 && open + 2 < s.Length && s[open + 2] == '-')
                {
                    text = text.TrimEnd();
                }
                if (text.Length > 0)
                {
                    list.Add(new Tok(TokKind.Text, text, Line(s, i)));
                }
                if (open < 0)
                {
                    break;
                }
                var kind = s[open + 1];
                var closer = kind switch { '{' => "}}", '%' => "%}", _ => "#}" };
                var end = s.IndexOf(closer, open + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    throw new TemplateException($"line {Line(s, open)}: unclosed \"{s.Substring(open, 2)}\"");
                }
                var body = s[(open + 2)..end];
                if (body.StartsWith('-'))
                {
                    body = body[1..];
                }
                trimNext = body.EndsWith('-');
                if (trimNext)
                {
                    body = body[..^1];
                }
                if (kind != '#')
                {
                    list.Add(new Tok(kind == '{' ? TokKind.Var : TokKind.Tag, body.Trim(), Line(s, open)));
                }
                i = end + 2;
            }
            return list;
        }

        private static int IndexOfOpen(string s, int from)
        {
            for (var i = s.IndexOf('{', from); i >= 0 && i + 1 < s.Length; i = s.IndexOf('{', i + 1))
            {
                if (s[i + 1] is '{' or '%' or '#')
                {
                    return i;
                }
            }
            return -1;
        }

        private static int Line(string s, int pos) => s.AsSpan(0, pos).Count('\n') + 1;
    }

    // ---- Nodes --------------------------------------------------------------------------------------

    private abstract record Node;
    private sealed record TextNode(string Text) : Node;
    private sealed record OutNode(Expr Expr) : Node;
    private sealed record IfNode(List<(Expr Cond, List<Node> Body)> Branches, List<Node>? Else) : Node;
    private sealed record ForNode(string Key, string? Value, Expr Seq, List<Node> Body, List<Node>? Empty) : Node;

    private sealed class Parser(List<Tok> toks)
    {
        private int _pos;

        public List<Node> ParseAll()
        {
            var (nodes, end) = ParseUntil();
            if (end is not null)
            {
                throw new TemplateException($"line {end.Line}: unexpected {{% {end.Body} %}}");
            }
            return nodes;
        }

        /// <summary>Nodes up to one of <paramref name="stops"/> (returned, consumed) or the end (null).</summary>
        private (List<Node> Nodes, Tok? Stop) ParseUntil(params string[] stops)
        {
            var nodes = new List<Node>();
            while (_pos < toks.Count)
            {
                var t = toks[_pos++];
                switch (t.Kind)
                {
                    case TokKind.Text:
                        nodes.Add(new TextNode(t.Body));
                        break;
                    case TokKind.Var:
                        nodes.Add(new OutNode(ExprParser.Parse(t.Body, t.Line)));
                        break;
                    default:
                        var word = t.Body.Split(' ', 2)[0];
                        if (stops.Contains(word))
                        {
                            return (nodes, t);
                        }
                        if (ParseTag(t, word) is { } n)
                        {
                            nodes.Add(n);
                        }
                        break;
                }
            }
            return (nodes, null);
        }

        private Node? ParseTag(Tok t, string word)
        {
            var rest = t.Body.Length > word.Length ? t.Body[word.Length..].Trim() : "";
            switch (word)
            {
                case "if":
                {
                    var branches = new List<(Expr, List<Node>)>();
                    var cond = ExprParser.Parse(rest, t.Line);
                    while (true)
                    {
                        var (body, stop) = ParseUntil("elif", "else", "endif");
                        branches.Add((cond, body));
                        switch (stop?.Body.Split(' ', 2)[0])
                        {
                            case null:
                                throw new TemplateException($"line {t.Line}: {{% if %}} without {{% endif %}}");
                            case "elif":
                                cond = ExprParser.Parse(stop.Body[4..].Trim(), stop.Line);
                                continue;
                            case "else":
                                var (elseBody, end) = ParseUntil("endif");
                                return end is null
                                    ? throw new TemplateException($"line {t.Line}: {{% if %}} without {{% endif %}}")
                                    : new IfNode(branches, elseBody);
                            default:
                                return new IfNode(branches, null);
                        }
                    }
                }
                case "for":
                {
                    var inAt = rest.IndexOf(" in ", StringComparison.Ordinal);
                    if (inAt < 0)
                    {
                        throw new TemplateException($"line {t.Line}: {{% for %}} needs \"NAME in EXPR\"");
                    }
                    var names = rest[..inAt].Split(',', StringSplitOptions.TrimEntries);
                    if (names.Length is < 1 or > 2 || names.Any(n => !IsIdent(n)))
                    {
                        throw new TemplateException($"line {t.Line}: bad loop variables \"{rest[..inAt]}\"");
                    }
                    var seq = ExprParser.Parse(rest[(inAt + 4)..], t.Line);
                    var (body, stop) = ParseUntil("empty", "endfor");
                    List<Node>? empty = null;
                    if (stop?.Body == "empty")
                    {
                        (empty, stop) = ParseUntil("endfor");
                    }
                    return stop is null
                        ? throw new TemplateException($"line {t.Line}: {{% for %}} without {{% endfor %}}")
                        : new ForNode(names[0], names.Length == 2 ? names[1] : null, seq, body, empty);
                }
                case "autoescape" or "endautoescape":
                    return null; // LXD renders with autoescape off; nothing to escape either way
                default:
                    throw new TemplateException($"line {t.Line}: unsupported tag \"{word}\"");
            }
        }
    }

    // ---- Execution ----------------------------------------------------------------------------------

    private sealed class Scope(IReadOnlyDictionary<string, object?> root)
    {
        private readonly List<Dictionary<string, object?>> _frames = new();

        public object? Get(string name)
        {
            for (var i = _frames.Count - 1; i >= 0; i--)
            {
                if (_frames[i].TryGetValue(name, out var v))
                {
                    return v;
                }
            }
            return root.GetValueOrDefault(name);
        }

        public void Push(Dictionary<string, object?> f) => _frames.Add(f);

        public void Pop() => _frames.RemoveAt(_frames.Count - 1);
    }

    private static void Exec(List<Node> nodes, Scope scope, StringBuilder sb)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t:
                    Append(sb, t.Text);
                    break;
                case OutNode o:
                    Append(sb, Str(o.Expr.Eval(scope)));
                    break;
                case IfNode i:
                    var taken = i.Branches.FirstOrDefault(b => Truthy(b.Cond.Eval(scope))).Body ?? i.Else;
                    if (taken is not null)
                    {
                        Exec(taken, scope, sb);
                    }
                    break;
                case ForNode f:
                    var items = Items(f.Seq.Eval(scope), f.Value is not null);
                    if (items.Count == 0 && f.Empty is not null)
                    {
                        Exec(f.Empty, scope, sb);
                    }
                    for (var n = 0; n < items.Count; n++)
                    {
                        var frame = new Dictionary<string, object?>(StringComparer.Ordinal)
                        {
                            ["forloop"] = new Dictionary<string, object?>(StringComparer.Ordinal)
                            {
                                ["Counter"] = (long)n + 1, ["Counter0"] = (long)n,
                                ["First"] = n == 0, ["Last"] = n == items.Count - 1,
                                ["Revcounter"] = (long)(items.Count - n), ["Revcounter0"] = (long)(items.Count - n - 1),
                            },
                            [f.Key] = items[n].Key,
                        };
                        if (f.Value is not null)
                        {
                            frame[f.Value] = items[n].Value;
                        }
                        scope.Push(frame);
                        Exec(f.Body, scope, sb);
                        scope.Pop();
                    }
                    break;
            }
        }
    }

    private static void Append(StringBuilder sb, string s)
    {
        if (sb.Length + s.Length > MaxOutput)
        {
            throw new TemplateException($"the output is larger than {MaxOutput} bytes");
        }
        sb.Append(s);
    }

    /// <summary>A map iterates sorted by key (pongo2 sorts); a list or a string by element.</summary>
    private static List<(object? Key, object? Value)> Items(object? v, bool pairs) => v switch
    {
        IReadOnlyDictionary<string, object?> m => m.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => ((object?)kv.Key, kv.Value)).ToList(),
        IReadOnlyDictionary<string, string> m => m.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => ((object?)kv.Key, (object?)kv.Value)).ToList(),
        IReadOnlyList<object?> l when !pairs => l.Select(x => (x, (object?)null)).ToList(),
        IReadOnlyList<object?> l => l.Select((x, i) => ((object?)(long)i, x)).ToList(),
        string s => s.Select(c => ((object?)c.ToString(), (object?)null)).ToList(),
        _ => new(),
    };

    internal static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        string s => s.Length > 0,
        long n => n != 0,
        IReadOnlyDictionary<string, object?> m => m.Count > 0,
        IReadOnlyDictionary<string, string> m => m.Count > 0,
        IReadOnlyList<object?> l => l.Count > 0,
        _ => true,
    };

    internal static string Str(object? v) => v switch
    {
        null => "",
        string s => s,
        bool b => b ? "True" : "False",
        long n => n.ToString(CultureInfo.InvariantCulture),
        DateTimeOffset t => GoTime.Format(t, GoTime.DefaultLayout),
        IReadOnlyDictionary<string, string> m => "map[" + string.Join(" ", m.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + kv.Value)) + "]",
        IReadOnlyDictionary<string, object?> m => "map[" + string.Join(" ", m.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + Str(kv.Value))) + "]",
        IReadOnlyList<object?> l => "[" + string.Join(" ", l.Select(Str)) + "]",
        _ => "",
    };
}

/// <summary>A function a template may call, e.g. LXD's <c>config_get("key", "default")</c>.</summary>
public delegate object? TemplateFunction(IReadOnlyList<object?> args);
