using Hyperlxd.Instances.Templates;

namespace Hyperlxd.Tests.Instances;

/// <summary>The pongo2 subset image templates are rendered with (as LXD: autoescape off).</summary>
public sealed class TemplateRendererTests
{
    private static readonly Dictionary<string, object?> Context = new()
    {
        ["trigger"] = "create",
        ["container"] = new Dictionary<string, object?> { ["name"] = "c1", ["privileged"] = "false" },
        ["config"] = new Dictionary<string, object?> { ["user.b"] = "2", ["user.a"] = "1<&>" },
        ["list"] = new List<object?> { "x", "y" },
        ["config_get"] = (TemplateFunction)(args => args[0] as string == "user.a" ? "1" : args.Count > 1 ? args[1] : null),
    };

    [Theory]
    [InlineData("{{ container.name }}", "c1")]
    [InlineData("{{ container[\"name\"] }}.{{ trigger }}", "c1.create")]
    [InlineData("{{ nope|default:\"d\" }} {{ container.name|upper }}", "d C1")]
    [InlineData("{{ config[\"user.a\"] }}", "1<&>")]
    [InlineData("{% if container.privileged == \"false\" %}u{% else %}p{% endif %}", "u")]
    [InlineData("{% if trigger == \"copy\" %}c{% elif trigger == \"create\" and not nope %}n{% endif %}", "n")]
    [InlineData("{% for k, v in config %}{{ k }}={{ v }};{% endfor %}", "user.a=1<&>;user.b=2;")]
    [InlineData("{% for x in list %}{{ forloop.Counter }}{{ x }}{% if not forloop.Last %},{% endif %}{% endfor %}", "1x,2y")]
    [InlineData("{% for x in nope %}a{% empty %}none{% endfor %}", "none")]
    [InlineData("{{ config_get(\"user.a\", \"z\") }}{{ config_get(\"user.q\", \"z\") }}", "1z")]
    [InlineData("a {# comment #}b\n{%- if true -%}\n c{% endif %}", "a bc")]
    [InlineData("{{ list|join:\",\" }} {{ list|length }} {% if \"x\" in list %}in{% endif %}", "x,y 2 in")]
    public void Renders(string template, string expected) => Assert.Equal(expected, Pongo.Render(template, Context));

    [Theory]
    [InlineData("{% include \"/etc/passwd\" %}", "unsupported tag")]
    [InlineData("{% ssi \"/etc/passwd\" %}", "unsupported tag")]
    [InlineData("{{ x|evil }}", "unsupported filter")]
    [InlineData("{% if x %}", "endif")]
    [InlineData("{{ x", "unclosed")]
    [InlineData("{{ \"abc }}", "unterminated")]
    [InlineData("{{ trigger() }}", "not a function")]
    public void Refuses(string template, string says) =>
        Assert.Contains(says, Assert.Throws<TemplateException>(() => Pongo.Render(template, Context)).Message);

    [Fact]
    public void Output_is_bounded()
    {
        var big = new List<object?>(Enumerable.Range(0, 3000).Select(i => (object?)i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var ctx = new Dictionary<string, object?> { ["l"] = big };
        Assert.Throws<TemplateException>(() => Pongo.Render("{% for a in l %}{% for b in l %}{{ a }}{{ b }}{% endfor %}{% endfor %}", ctx));
    }
}
