namespace Hyperlxd.Bench;

/// <summary>The one place samples are summarised: every section reports medians (and percentiles) the same way.</summary>
internal static class Stats
{
    /// <summary>Linear interpolation between the closest ranks; NaN for no samples.</summary>
    public static double Percentile(IReadOnlyCollection<double> xs, double p)
    {
        if (xs.Count == 0)
        {
            return double.NaN;
        }
        var sorted = xs.Order().ToArray();
        var pos = p * (sorted.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    public static double Median(IReadOnlyCollection<double> xs) => Percentile(xs, 0.5);
}
