using System.Globalization;
using System.Text;

namespace Hyperlxd.Instances.Templates;

public static partial class Pongo
{
    /// <summary>An expression: literals, variables with <c>.attr</c>/<c>[key]</c>, calls, filters, comparisons, and/or/not.</summary>
    private abstract record Expr
    {
        public abstract object? Eval(Scope s);
    }

    private sealed record Lit(object? Value) : Expr
    {
        public override object? Eval(Scope s) => Value;
    }

    private sealed record Var(string Name) : Expr
    {
        public override object? Eval(Scope s) => s.Get(Name);
    }

    private sealed record Index(Expr Target, Expr Key) : Expr
    {
        public override object? Eval(Scope s)
        {
            var t = Target.Eval(s);
            var k = Key.Eval(s);
            return t switch
            {
                IReadOnlyDictionary<string, object?> m => m.GetValueOrDefault(Str(k)),
                IReadOnlyDictionary<string, string> m => m.GetValueOrDefault(Str(k)),
                IReadOnlyList<object?> l when k is long i && i >= 0 && i < l.Count => l[(int)i],
                _ => null,
            };
        }
    }

    private sealed record Call(string Name, List<Expr> Args, int Line) : Expr
    {
        public override object? Eval(Scope s) => s.Get(Name) is TemplateFunction f
            ? f(Args.Select(a => a.Eval(s)).ToList())
            : throw new TemplateException($"line {Line}: \"{Name}\" is not a function");
    }

    private sealed record Not(Expr Inner) : Expr
    {
        public override object? Eval(Scope s) => !Truthy(Inner.Eval(s));
    }

    private sealed record Bin(string Op, Expr L, Expr R) : Expr
    {
        public override object? Eval(Scope s)
        {
            switch (Op)
            {
                case "and":
                    return Truthy(L.Eval(s)) && Truthy(R.Eval(s));
                case "or":
                    return Truthy(L.Eval(s)) || Truthy(R.Eval(s));
            }
            var (l, r) = (L.Eval(s), R.Eval(s));
            return Op switch
            {
                "==" => Equal(l, r),
                "!=" => !Equal(l, r),
                "in" => Contains(r, l),
                "not in" => !Contains(r, l),
                _ => Compare(l, r) is var c && Op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 },
            };
        }

        private static bool Equal(object? a, object? b) => a is long x && b is long y ? x == y : a is bool p && b is bool q ? p == q : Str(a) == Str(b);

        private static int Compare(object? a, object? b) => a is long x && b is long y ? x.CompareTo(y) : string.CompareOrdinal(Str(a), Str(b));

        private static bool Contains(object? seq, object? item) => seq switch
        {
            IReadOnlyDictionary<string, object?> m => m.ContainsKey(Str(item)),
            IReadOnlyDictionary<string, string> m => m.ContainsKey(Str(item)),
            IReadOnlyList<object?> l => l.Any(x => Equal(x, item)),
            string str => str.Contains(Str(item), StringComparison.Ordinal),
            _ => false,
        };
    }

    private sealed record Filter(Expr Input, string Name, Expr? Arg, int Line) : Expr
    {
        public override object? Eval(Scope s)
        {
            var v = Input.Eval(s);
            var arg = Arg?.Eval(s);
            return Name switch
            {
                "default" => Truthy(v) ? v : arg,
                "default_if_none" => v ?? arg,
                "lower" => Str(v).ToLowerInvariant(),
                "upper" => Str(v).ToUpperInvariant(),
                "capfirst" => Str(v) is { Length: > 0 } c ? char.ToUpperInvariant(c[0]) + c[1..] : "",
                "title" => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(Str(v).ToLowerInvariant()),
                "length" => (long)(v switch
                {
                    string str => str.Length,
                    IReadOnlyDictionary<string, object?> m => m.Count,
                    IReadOnlyDictionary<string, string> m => m.Count,
                    IReadOnlyList<object?> l => l.Count,
                    _ => 0,
                }),
                "join" => v is IReadOnlyList<object?> l ? string.Join(Str(arg), l.Select(Str)) : Str(v),
                "safe" or "escape" or "striptags" => v, // autoescape is off in LXD's rendering
                "cut" => Str(v).Replace(Str(arg), "", StringComparison.Ordinal),
                "add" => v is long a && arg is long b ? a + b : Str(v) + Str(arg),
                "yesno" => Truthy(v) ? "yes" : "no",
                "stringformat" => Str(v),
                "date" or "time" => v is DateTimeOffset t ? GoTime.Format(t, Str(arg)) : "",
                "integer" => long.TryParse(Str(v), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0L,
                _ => throw new TemplateException($"line {Line}: unsupported filter \"{Name}\""),
            };
        }
    }

    internal static bool IsIdent(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '_') && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>Recursive descent over one tag's text: or &gt; and &gt; not &gt; comparison &gt; filters &gt; postfix &gt; primary.</summary>
    private sealed class ExprParser
    {
        private readonly List<string> _t;
        private readonly int _line;
        private int _p;

        private ExprParser(List<string> tokens, int line)
        {
            _t = tokens;
            _line = line;
        }

        public static Expr Parse(string text, int line)
        {
            var p = new ExprParser(Tokenize(text, line), line);
            if (p._t.Count == 0)
            {
                throw new TemplateException($"line {line}: empty expression");
            }
            var e = p.Or();
            if (p._p < p._t.Count)
            {
                throw new TemplateException($"line {line}: unexpected \"{p._t[p._p]}\" in \"{text}\"");
            }
            return e;
        }

        private string? Peek => _p < _t.Count ? _t[_p] : null;

        private bool Accept(string tok)
        {
            if (Peek == tok)
            {
                _p++;
                return true;
            }
            return false;
        }

        private void Expect(string tok)
        {
            if (!Accept(tok))
            {
                throw new TemplateException($"line {_line}: expected \"{tok}\"{(Peek is { } p ? $" before \"{p}\"" : " at the end")}");
            }
        }

        private Expr Or()
        {
            var e = And();
            while (Accept("or") || Accept("||"))
            {
                e = new Bin("or", e, And());
            }
            return e;
        }

        private Expr And()
        {
            var e = NotExpr();
            while (Accept("and") || Accept("&&"))
            {
                e = new Bin("and", e, NotExpr());
            }
            return e;
        }

        private Expr NotExpr() => Accept("not") || Accept("!") ? new Not(NotExpr()) : Comparison();

        private Expr Comparison()
        {
            var e = Filtered();
            if (Peek is "==" or "!=" or "<" or ">" or "<=" or ">=" or "in")
            {
                var op = _t[_p++];
                return new Bin(op, e, Filtered());
            }
            if (Peek == "not" && _p + 1 < _t.Count && _t[_p + 1] == "in")
            {
                _p += 2;
                return new Bin("not in", e, Filtered());
            }
            return e;
        }

        private Expr Filtered()
        {
            var e = Postfix();
            while (Accept("|"))
            {
                var name = Peek is { } n && IsIdent(n) ? _t[_p++] : throw new TemplateException($"line {_line}: a filter name is expected after \"|\"");
                Expr? arg = null;
                if (Accept(":"))
                {
                    arg = Postfix();
                }
                e = new Filter(e, name, arg, _line);
            }
            return e;
        }

        private Expr Postfix()
        {
            var e = Primary();
            while (true)
            {
                if (Accept("."))
                {
                    var name = Peek is { } n && (IsIdent(n) || n.All(char.IsAsciiDigit)) ? _t[_p++] : throw new TemplateException($"line {_line}: a name is expected after \".\"");
                    e = new Index(e, name.All(char.IsAsciiDigit) ? new Lit(long.Parse(name, CultureInfo.InvariantCulture)) : new Lit(name));
                }
                else if (Accept("["))
                {
                    var key = Or();
                    Expect("]");
                    e = new Index(e, key);
                }
                else
                {
                    return e;
                }
            }
        }

        private Expr Primary()
        {
            var tok = Peek ?? throw new TemplateException($"line {_line}: the expression ends too early");
            _p++;
            if (tok == "(")
            {
                var e = Or();
                Expect(")");
                return e;
            }
            if (tok[0] is '"' or '\'')
            {
                return new Lit(tok[1..]);
            }
            if (char.IsAsciiDigit(tok[0]) || (tok[0] == '-' && tok.Length > 1))
            {
                return long.TryParse(tok, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                    ? new Lit(n)
                    : throw new TemplateException($"line {_line}: bad number \"{tok}\"");
            }
            switch (tok)
            {
                case "true" or "True":
                    return new Lit(true);
                case "false" or "False":
                    return new Lit(false);
                case "nil" or "None":
                    return new Lit(null);
            }
            if (!IsIdent(tok))
            {
                throw new TemplateException($"line {_line}: unexpected \"{tok}\"");
            }
            if (Accept("("))
            {
                var args = new List<Expr>();
                if (!Accept(")"))
                {
                    do
                    {
                        args.Add(Or());
                    }
                    while (Accept(","));
                    Expect(")");
                }
                return new Call(tok, args, _line);
            }
            return new Var(tok);
        }

        /// <summary>Strings keep their opening quote as a marker (their content is unescaped); everything else is a word or an operator.</summary>
        private static List<string> Tokenize(string s, int line)
        {
            var list = new List<string>();
            var i = 0;
            while (i < s.Length)
            {
                var c = s[i];
                if (char.IsWhiteSpace(c))
                {
                    i++;
                }
                else if (c is '"' or '\'')
                {
                    var sb = new StringBuilder().Append(c);
                    i++;
                    while (i < s.Length && s[i] != c)
                    {
                        if (s[i] == '\\' && i + 1 < s.Length)
                        {
                            i++;
                            sb.Append(s[i] switch { 'n' => '\n', 't' => '\t', var x => x });
                        }
                        else
                        {
                            sb.Append(s[i]);
                        }
                        i++;
                    }
                    if (i >= s.Length)
                    {
                        throw new TemplateException($"line {line}: unterminated string");
                    }
                    i++;
                    list.Add(sb.ToString());
                }
                else if (char.IsAsciiLetterOrDigit(c) || c == '_' || (c == '-' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]) && (list.Count == 0 || !IsValueEnd(list[^1]))))
                {
                    var start = i++;
                    while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || s[i] == '_'))
                    {
                        i++;
                    }
                    list.Add(s[start..i]);
                }
                else
                {
                    var two = i + 1 < s.Length ? s.Substring(i, 2) : "";
                    if (two is "==" or "!=" or "<=" or ">=" or "&&" or "||")
                    {
                        list.Add(two);
                        i += 2;
                    }
                    else if (c is '|' or ':' or '.' or ',' or '(' or ')' or '[' or ']' or '<' or '>' or '!')
                    {
                        list.Add(c.ToString());
                        i++;
                    }
                    else
                    {
                        throw new TemplateException($"line {line}: unexpected character '{c}'");
                    }
                }
            }
            return list;
        }

        private static bool IsValueEnd(string tok) => tok is ")" or "]" || IsIdent(tok) || char.IsAsciiDigit(tok[0]) || tok[0] is '"' or '\'';
    }
}
