"""Classification: the lesson's models, the three training strategies, the feature cache, the training job.

    from vision_demo.classify.train import TrainConfig, submit, submit_compare
    from vision_demo.classify.predict import load_classifier

Modules: models (architectures + strategies), feature_cache (frozen backbone run once per image),
train (the job), predict (a finished model on new images), inspect (what a model looks like inside).
"""
