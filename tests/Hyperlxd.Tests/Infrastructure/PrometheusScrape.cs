using System.Text.Json;

namespace Hyperlxd.Tests.Infrastructure;

/// <summary><c>/1.0/metrics</c> read over the daemon's unix socket and parsed by Prometheus' own text-format parser (python3-prometheus-client).</summary>
public static class PrometheusScrape
{
    public sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    public sealed record Family(string Type, List<Sample> Samples);

    /// <summary>Families by the parser's name (without "_total" for counters).</summary>
    public static async Task<Dictionary<string, Family>> ScrapeAsync(DaemonProcess d, string path = "/1.0/metrics")
    {
        var r = await d.PythonAsync($$"""
            import json, socket, http.client
            from prometheus_client.parser import text_string_to_metric_families
            class C(http.client.HTTPConnection):
                def connect(self):
                    self.sock = socket.socket(socket.AF_UNIX)
                    self.sock.connect('{{d.Socket}}')
            c = C('lxd')
            c.request('GET', '{{path}}')
            resp = c.getresponse()
            assert resp.status == 200, resp.status
            assert resp.getheader('Content-Type').startswith('text/plain'), resp.getheader('Content-Type')
            out = {}
            for f in text_string_to_metric_families(resp.read().decode()):
                out[f.name] = {'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}
            print(json.dumps(out))
            """);
        Assert.True(r.ExitCode == 0, r.ToString());
        var result = new Dictionary<string, Family>();
        foreach (var f in JsonDocument.Parse(r.Stdout).RootElement.EnumerateObject())
        {
            result[f.Name] = new Family(f.Value.GetProperty("type").GetString()!, f.Value.GetProperty("samples").EnumerateArray()
                .Select(s => new Sample(s[0].GetString()!, s[1].EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), s[2].GetDouble())).ToList());
        }
        return result;
    }

    /// <summary>One instance's samples of a family (none when the family is absent).</summary>
    public static List<Sample> Of(Dictionary<string, Family> m, string family, string instance) =>
        m.TryGetValue(family, out var f) ? f.Samples.Where(s => s.Labels.GetValueOrDefault("name") == instance).ToList() : [];
}
